"""The expectation suites as files, and the few `meta` keys of theirs that the checks read.

One suite per landed stream (named like the stream, `crm.contacts`) and one per golden mart
(`marts.golden_customers`, `marts.customer_xref`), kept as JSON in `expectations/gx/expectations/`
(a dot in the name is a folder: `crm/contacts.json`). People edit them by hand; nothing rebuilds
them at run time. Each expectation says in `meta` how much its failure matters:

- `severity`: `critical` holds the batch (or fails the mart gate), `warning` is reported only. GX
  writes its own `severity` field on every expectation too; the two must agree.
- `critical_min_rows` (optional): below this many rows a critical failure only warns, for rates
  (`mostly`) that mean little on a handful of values.
- `volume_band` (on the row-count expectation): how the expected row count is worked out from the
  stream's recent batches (`tessera/checks/volume.py`).

A suite that breaks these rules is refused with an error naming its file, expectation and value.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite
    from great_expectations.data_context import AbstractDataContext

SEVERITIES = ("critical", "warning")
MART_SUITES = ("marts.golden_customers", "marts.customer_xref")


class SuiteError(ValueError):
    """An expectation suite is missing or says something the checks cannot use."""


def suite_file(name: str) -> Path:
    """Where a suite's JSON lives (the expectations store keeps `a.b` as `a/b.json`)."""
    from tessera.checks.context import expectations_dir

    return expectations_dir() / "gx" / "expectations" / f"{name.replace('.', '/')}.json"


def load_suite(context: AbstractDataContext, name: str) -> ExpectationSuite:
    """The suite, checked for the `meta` keys above."""
    from great_expectations.exceptions import DataContextError

    try:
        suite = context.suites.get(name)
    except DataContextError as exc:
        raise SuiteError(
            f"no expectation suite {name!r}: expected {suite_file(name)} (see docs/checks.md, 'Editing a suite')"
        ) from exc
    for expectation in suite.expectations:
        check_meta(name, expectation.configuration)
    return suite


def describe(config: Any) -> str:
    """`expect_column_values_to_be_unique on contact_id`: how an expectation is named in errors."""
    kwargs = config.kwargs
    column = kwargs.get("column") or ", ".join(kwargs.get("column_list") or [])
    return f"{config.type} on {column}" if column else config.type


def check_meta(suite: str, config: Any) -> None:
    meta = config.meta or {}
    where = f"{suite_file(suite)}: {describe(config)}"
    severity = meta.get("severity")
    if severity not in SEVERITIES:
        raise SuiteError(f"{where}: meta.severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    native = getattr(config.severity, "value", config.severity)
    if native != severity:
        raise SuiteError(f"{where}: meta.severity is {severity!r} but the expectation's severity is {native!r}")
    minimum = meta.get("critical_min_rows")
    if minimum is not None and (not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1):
        raise SuiteError(f"{where}: meta.critical_min_rows must be a whole number of rows, not {minimum!r}")
    if "volume_band" in meta:
        from tessera.checks.volume import VolumeBand

        VolumeBand.from_meta(meta["volume_band"], where)
