"""Landing good and deliberately bad batches for the checks to judge.

Contract-typed batches land through the test loader (`tests/lake_writer.py::land`) and are then published
(`_SUCCESS`) unchecked, as a loader leaves them. Batches that break the contract (a column of another
type, a column too few or too many, nulls in a required column) cannot go through a contract-typed writer,
so they are written with pyarrow directly, the way a careless foreign loader would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.contract import contract_for
from connectors.lake import SUCCESS, batch_dir, write_marker
from tests.lake_writer import land

#: The validation time the tests pass, so "the future" does not move.
NOW = datetime(2026, 6, 1, tzinfo=UTC)
UPDATED = datetime(2026, 1, 1, 12, tzinfo=UTC)


def batch_id(day: int) -> str:
    """`20260101T000000Z` for day 0: daily batch ids, as the extract DAGs name them."""
    return (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y%m%dT%H%M%SZ")


def contacts(n: int, start: int = 0) -> list[dict]:
    return [
        {
            "contact_id": f"C{i:05d}",
            "email": f"person{i}@example.com",
            "phone": f"+4915{i:09d}",
            "first_name": "Ann",
            "last_name": "Lee",
            "marketing_opt_in": True,
            "is_deleted": False,
            "created_at": datetime(2025, 6, 1, tzinfo=UTC),
            "updated_at": UPDATED,
        }
        for i in range(start, start + n)
    ]


def subscribers(n: int) -> list[dict]:
    return [
        {"subscriber_id": f"S{i:06d}", "email": f"reader{i}@example.org", "status": "subscribed", "updated_at": UPDATED}
        for i in range(n)
    ]


def publish(folder: Path) -> Path:
    """What a loader does once it has committed a batch: `_SUCCESS`. The batch is now pending its checks."""
    write_marker(folder, SUCCESS)
    return folder


def land_pending(lake: Path, source: str, stream: str, day_or_id: int | str, rows: list[dict]) -> Path:
    """Land a contract-typed batch and publish it, unchecked."""
    bid = batch_id(day_or_id) if isinstance(day_or_id, int) else day_or_id
    return publish(land(lake, source, stream, bid, rows, visible=False))


def contract_table(source: str, stream: str, bid: str, rows: list[dict]) -> pa.Table:
    """Rows under the contract's types, every column nullable (a writer that does not enforce `required`)."""
    schema = contract_for(source, stream).schema
    relaxed = pa.schema([field.with_nullable(True) for field in schema])
    full = [{**row, "_batch_id": bid, "_extracted_at": UPDATED} for row in rows]
    return pa.Table.from_pylist(full, schema=relaxed)


def land_table(lake: Path, source: str, stream: str, bid: str, table: pa.Table) -> Path:
    """Write a batch folder with pyarrow directly, whatever its schema, and publish it."""
    folder = batch_dir(lake, "raw", source, stream, bid)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-00000.parquet")
    return publish(folder)
