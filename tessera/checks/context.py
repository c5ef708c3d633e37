"""The Great Expectations context the checks run in: suites from `expectations/`, results under the home.

`expectations/gx/` is a file-backed GX project holding the suites as JSON that people read, edit and
review in diffs; it may sit inside an installed (read-only) package, so nothing is ever written there.
Everything a run produces goes under `$TESSERA_HOME/checks/`: the stores and the Data Docs site in
`great_expectations.yml` name `${TESSERA_HOME}`, which GX substitutes from the `runtime_environment`
the context is opened with, so each home (a test, a demo) keeps its own results.

Frames are validated through one pandas datasource declared in that file (`tessera` / `frames` /
`whole`): GX cannot validate DuckDB through SQLAlchemy, so batches and marts are read into Arrow-backed
pandas frames first. GX is imported only here, inside functions: it takes seconds to import, and DAG
files and `tessera status` must stay light.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tessera.home import TesseraHome
from tessera.resources import expectations_dir

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core import ExpectationSuite, ExpectationSuiteValidationResult
    from great_expectations.data_context import AbstractDataContext

log = logging.getLogger(__name__)

DATASOURCE, ASSET, BATCH_DEFINITION = "tessera", "frames", "whole"
#: How many failing values a result keeps per expectation (messages show fewer, masked).
PARTIAL_UNEXPECTED_COUNT = 20


def checks_dir(home: TesseraHome) -> Path:
    """Where a home keeps its check results: GX validation results, Data Docs, the release audit trail."""
    return home.root / "checks"


def data_docs_index(home: TesseraHome) -> Path:
    """The Data Docs site's front page (static HTML; open it in a browser)."""
    return checks_dir(home) / "data_docs" / "index.html"


def open_context(home: TesseraHome) -> AbstractDataContext:
    """The file context of `expectations_dir()`, with its results and Data Docs under this home."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # before GX is imported: no usage statistics are sent
    import great_expectations as gx

    import tessera.checks.arrow_type  # noqa: F401 - registers expect_column_to_have_arrow_type before suites load

    checks_dir(home).mkdir(parents=True, exist_ok=True)
    return gx.get_context(
        mode="file",
        project_root_dir=expectations_dir(),
        runtime_environment={"TESSERA_HOME": str(home.root)},
    )


def run_suite(
    context: AbstractDataContext,
    suite: ExpectationSuite,
    frame: pd.DataFrame,
    parameters: dict[str, Any],
    run_name: str,
    validated_at: datetime,
    index_columns: list[str] | None = None,
) -> tuple[ExpectationSuiteValidationResult, Any]:
    """Validate `frame` against a suite (`tessera.checks.suites.load_suite`), store the result under the home,
    and return it with its store key.

    `parameters` fill the suite's `{"$PARAMETER": ...}` values; `index_columns` name the columns (such as the
    stream's key) that identify a failing row in the result. The batch is validated directly rather than
    through a stored ValidationDefinition: saving one makes GX write the suite back into `expectations/`."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.validator.v1_validator import Validator

    batch_definition = context.data_sources.get(DATASOURCE).get_asset(ASSET).get_batch_definition(BATCH_DEFINITION)
    result_format: dict[str, Any] = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": PARTIAL_UNEXPECTED_COUNT,
        "return_unexpected_index_query": False,  # else GX writes every failing row's index into the result
    }
    if index_columns:
        result_format["unexpected_index_column_names"] = index_columns
    # The validator builds the batch once: `batch_definition.get_batch(...)` then `batch.validate(...)` builds
    # it twice, and GX fingerprints (hashes every cell of) a frame each time it builds a batch of it.
    validator = Validator(
        batch_definition=batch_definition, batch_parameters={"dataframe": frame}, result_format=result_format
    )
    with _no_fingerprint():
        result = validator.validate_expectation_suite(suite, expectation_parameters=parameters)
    run_id = RunIdentifier(run_name=run_name, run_time=validated_at)
    result.meta.update(run_id=run_id, validation_time=validated_at, batch_parameters={"dataframe": "<DATAFRAME>"})
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
        run_id=run_id,
        batch_identifier=validator.active_batch_id,
    )
    context.validation_results_store.set(key, result)
    return result, key


@contextmanager
def _no_fingerprint():
    """Batches built inside skip GX's frame fingerprint.

    For a frame under `HASH_THRESHOLD` (1 GB) GX 1.x hashes every cell into a `pandas_data_fingerprint` batch
    marker that nothing reads, and offers no batch spec, parameter or datasource option to skip it: at a
    million rows it took most of a check's time. Raising the threshold for the duration of one validation
    is the only way around it; batches built elsewhere keep GX's default.
    """
    from great_expectations.execution_engine import pandas_execution_engine as engine

    threshold = engine.HASH_THRESHOLD
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = threshold


def build_data_docs(context: AbstractDataContext, keys: list) -> list[Path | None]:
    """Render the given results (and their suites) into the home's Data Docs, refresh its index, and return
    each result's page. A failure to render is logged, never raised: a verdict stands without its web page."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    if not keys:
        return []
    suites = sorted({key.expectation_suite_identifier.name for key in keys})
    try:
        context.build_data_docs(resource_identifiers=[*keys, *(ExpectationSuiteIdentifier(name=n) for n in suites)])
    except Exception:  # noqa: BLE001 - Data Docs are a view of the results, not the results
        log.exception("could not render Data Docs for %s", ", ".join(suites))
        return [None] * len(keys)
    return [_page(context, key) for key in keys]


def _page(context: AbstractDataContext, key) -> Path | None:
    sites = context.get_docs_sites_urls(resource_identifier=key)
    url = sites[0].get("site_url") if sites else None
    return Path(unquote(url.removeprefix("file://"))) if url else None
