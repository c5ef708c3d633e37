"""Land hand-written records in a test lake, following the landing contract (as another loader would)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.contract import contract_for
from connectors.registry import registry

EXTRACTED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def land(lake: Path, source: str, stream: str, batch_id: str, rows: list[dict], extracted_at=None) -> Path:
    """Write one batch of `rows` (business columns; the rest null) under the contract's schema.

    Unless given, `_extracted_at` is the batch's interval start (later batches were extracted later,
    as incremental staging expects), or EXTRACTED_AT for a batch id that is not a time.
    """
    contract = contract_for(source, stream)
    if extracted_at is None:
        try:
            extracted_at = datetime.strptime(batch_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            extracted_at = EXTRACTED_AT
    full = [{**row, "_batch_id": batch_id, "_extracted_at": extracted_at} for row in rows]
    table = pa.Table.from_pylist(full, schema=contract.schema)
    folder = Path(lake) / "raw" / source / stream / f"batch_id={batch_id}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-00000.parquet")
    return folder


def land_empty_streams(lake: Path, batch_id: str = "00000000T000000Z") -> None:
    """An empty batch for every stream that has none, so every dbt source resolves."""
    for contract in registry().streams:
        if not list((Path(lake) / "raw" / contract.source / contract.stream).glob("batch_id=*/*.parquet")):
            land(lake, contract.source, contract.stream, batch_id, [])
