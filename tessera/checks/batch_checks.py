"""Checking landed batches: the gate between a loader publishing a batch and the transform reading it.

A batch is read exactly as it landed, Parquet into Arrow-backed pandas (nothing is cast, so a column of
the wrong type is seen as such), and validated against its stream's suite with three parameters: the
validation time (`validation_time`, for timestamps in the future), the batch's own id (`this_batch`,
which every row's `_batch_id` must carry: readers join on it) and the volume band worked out from the
stream's recent batches (`volume_min`, `volume_max`). The verdict goes into the batch folder as a marker
(`tessera/checks/holds.py`): `_CHECKED.json` makes it visible to the transform, `_HELD.json` keeps it out.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.checks.results import CheckResult, Failure, failures_of
from tessera.home import TesseraHome

if TYPE_CHECKING:
    import pyarrow as pa

    from connectors.contract import StreamContract

log = logging.getLogger(__name__)

PART_FILES = "parquet_part_files"  #: the failure of a batch that cannot be read as one table
#: Up to this many rows, a failure's sample values name their rows' keys. GX looks the key up one failing
#: row at a time (all of them, not just the samples kept), which at a million rows takes longer than the
#: rest of the check; above it the samples show the values alone.
INDEX_ROWS = 100_000


def check_batch(
    home: TesseraHome, contract: StreamContract, batch_id: str, *, now: datetime | None = None
) -> CheckResult:
    """Validate one published batch, write its verdict marker (`_CHECKED.json` or `_HELD.json`), store the
    GX result and refresh the Data Docs. `now` is the validation time (default: the current time)."""
    from tessera.checks.context import build_data_docs, open_context

    context = open_context(home)
    result, key = _check(context, home, contract, batch_id, now)
    if key is None:
        return result
    (page,) = build_data_docs(context, [key])
    return replace(result, docs_page=page)


def check_pending(
    home: TesseraHome, contract: StreamContract | None = None, *, all: bool = False, now: datetime | None = None
) -> list[CheckResult]:
    """Check every batch that is published but not checked yet (`pending`), of one stream or all of
    them, in the order the batches cover time; with `all`, every published batch again."""
    from connectors.lake import BATCH_PREFIX, batch_ids, batch_state, stream_dir
    from connectors.registry import registry
    from tessera.checks.context import build_data_docs, open_context
    from tessera.checks.volume import batch_order

    context, checked = None, []
    for stream in [contract] if contract else registry().streams:
        folder = stream_dir(home.lake, "raw", stream.source, stream.stream)
        for batch_id in sorted(batch_ids(folder), key=batch_order):
            state = batch_state(folder / f"{BATCH_PREFIX}{batch_id}")
            if state == "writing" or (state != "pending" and not all):
                continue
            context = context or open_context(home)
            checked.append(_check(context, home, stream, batch_id, now))
    if context is None:
        return []
    pages = iter(build_data_docs(context, [key for _, key in checked if key]))
    return [replace(result, docs_page=next(pages)) if key else result for result, key in checked]


def _check(context: Any, home: TesseraHome, contract: StreamContract, batch_id: str, now: datetime | None):
    from connectors.lake import batch_dir, batch_state
    from tessera.checks.context import run_suite
    from tessera.checks.holds import record_verdict
    from tessera.checks.suites import load_suite

    folder = batch_dir(home.lake, "raw", contract.source, contract.stream, batch_id)
    if not folder.is_dir():
        raise FileNotFoundError(f"no batch {batch_id} of {contract.name}: {folder} does not exist")
    if batch_state(folder) == "writing":
        raise RuntimeError(
            f"{contract.name} batch {batch_id} is not published yet (no _SUCCESS in {folder}): "
            "its loader is still writing it, or died before committing it"
        )
    validated_at = now or datetime.now(UTC)
    suite = load_suite(context, contract.name)
    table, schema, unreadable = read_batch(contract.name, folder, _read_columns(suite))
    key = None
    if unreadable is not None:
        result = CheckResult(
            contract.name, str(folder), False, [unreadable], batch_id=batch_id, validated_at=validated_at
        )
    else:
        validation, key = run_suite(
            context,
            suite,
            _frame(table, schema),
            _parameters(home, contract, batch_id, validated_at, suite),
            run_name=f"batch_id={batch_id}",
            validated_at=validated_at,
            index_columns=[contract.key]
            if contract.key in _read_columns(suite) and table.num_rows <= INDEX_ROWS
            else None,
        )
        failures = failures_of(contract.name, validation, frozenset(c.name for c in contract.all_columns if c.pii))
        critical = [f for f in failures if f.severity == "critical"]
        result = CheckResult(
            suite=contract.name,
            target=str(folder),
            passed=not critical,
            critical=critical,
            warnings=[f for f in failures if f.severity != "critical"],
            batch_id=batch_id,
            expectations=len(validation.results),
            rows=table.num_rows,
            validated_at=validated_at,
        )
    record_verdict(folder, result)
    log.log(
        logging.INFO if result.passed else logging.WARNING,
        "checked %s batch %s: %s",
        contract.name,
        batch_id,
        "passed" if result.passed else "held",
        extra={
            "stream": contract.name,
            "batch_id": batch_id,
            "rows": result.rows,
            "critical": len(result.critical),
            "warnings": len(result.warnings),
        },
    )
    return result, key


def read_batch(
    suite: str, folder: Path, columns: set[str] | None = None
) -> tuple[pa.Table | None, pa.Schema | None, Failure | None]:
    """The batch's part files as one Arrow table and its landed schema, exactly as written; or the failure
    that prevents reading them.

    Every part's schema is read and compared; with `columns`, only those columns' values are read: the
    others come back as all-null columns of type `null` under their own names, and the landed schema
    still says what they hold."""
    import pyarrow as pa

    def failure(observed: str) -> Failure:
        return Failure(suite, PART_FILES, None, "critical", observed, expected="readable Parquet part files")

    from connectors.lake import batch_files, open_parquet

    parts = batch_files(folder)
    if not parts:
        return None, None, failure(f"no Parquet part files in {folder}")
    tables, schemas = {}, {}
    for part in parts:
        try:
            file = open_parquet(part)
            schemas[part.name] = file.schema_arrow
            wanted = None if columns is None else [name for name in file.schema_arrow.names if name in columns]
            tables[part.name] = file.read(columns=wanted)
        except Exception as exc:  # noqa: BLE001 - any unreadable file holds the batch, with the reason
            return None, None, failure(f"{part.name} cannot be read: {exc}")
    (first, schema), *others = schemas.items()
    for name, other in others:
        if not other.equals(schema):
            disagree = f"the part files disagree on the columns: {name} has {_columns(other)}"
            return None, None, failure(f"{disagree}, {first} has {_columns(schema)}")
    table = pa.concat_tables(tables.values())
    if columns is not None:
        table = pa.table(
            {field.name: table[field.name] if field.name in columns else pa.nulls(table.num_rows) for field in schema}
        )
    return table, schema, None


def _columns(schema: pa.Schema) -> str:
    return ", ".join(f"{field.name}: {field.type}" for field in schema)


#: Expectations that read the batch's schema or size, never its values.
SCHEMA_EXPECTATIONS = frozenset(
    {"expect_column_to_have_arrow_type", "expect_table_columns_to_match_set", "expect_table_row_count_to_be_between"}
)


def _read_columns(suite: Any) -> set[str]:
    """The columns whose values the suite's row-level expectations read."""
    return {
        column
        for expectation in suite.expectations
        if expectation.expectation_type not in SCHEMA_EXPECTATIONS
        for column in _columns_of(expectation.configuration.kwargs)
    }


def _frame(table: pa.Table, schema: pa.Schema):
    """The batch as the pandas frame GX validates. Every landed column is there under its name, and the
    frame carries the landed Arrow schema (`arrow_type.ARROW_TYPES` in `attrs`), which the type
    expectations read: nothing is cast. The values are those `read_batch` read, converted to what pandas
    and GX compute on fastest (timestamps to NumPy `datetime64`, whose range GX checks in one vectorised
    comparison, not one Python call per value); the columns no row-level expectation reads stay all-null
    Arrow `null` columns, which cost nothing when GX filters the frame once per expectation."""
    import pandas as pd
    import pyarrow as pa

    from tessera.checks.arrow_type import ARROW_TYPES, arrow_type_name

    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            columns[name] = column.to_pandas()  # datetime64[unit, tz]
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            columns[name] = column.to_pandas()  # GX's regex check casts to Python strings anyway
        else:
            columns[name] = pd.Series(column.to_pandas(types_mapper=pd.ArrowDtype), name=name)
    frame = pd.DataFrame(columns, copy=False) if columns else pd.DataFrame(index=range(table.num_rows))
    frame.attrs[ARROW_TYPES] = {field.name: arrow_type_name(field.type) for field in schema}
    return frame


def _columns_of(kwargs: dict) -> list[str]:
    names = [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B"), *(kwargs.get("column_list") or [])]
    return [name for name in names if isinstance(name, str)]


def _parameters(
    home: TesseraHome, contract: StreamContract, batch_id: str, validated_at: datetime, suite: Any
) -> dict[str, Any]:
    from connectors.lake import stream_dir
    from tessera.checks.volume import VolumeBand, previous_counts

    band = VolumeBand()
    for expectation in suite.expectations:
        meta = expectation.meta or {}
        if "volume_band" in meta:
            band = VolumeBand.from_meta(meta["volume_band"], contract.name)
    counts = previous_counts(stream_dir(home.lake, "raw", contract.source, contract.stream), batch_id, band.history)
    low, high = band.bounds(counts)
    return {"validation_time": validated_at, "this_batch": [batch_id], "volume_min": low, "volume_max": high}
