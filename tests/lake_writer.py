"""Land hand-written records in a test lake, following the landing contract (as another loader would)."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.contract import contract_for
from connectors.lake import CHECKED, SUCCESS, publish_files, write_marker
from connectors.lake_storage import is_local, lake_path
from connectors.registry import registry

EXTRACTED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def land(
    lake: Path,
    source: str,
    stream: str,
    batch_id: str,
    rows: list[dict],
    extracted_at=None,
    *,
    visible: bool = True,
    visible_at: datetime | None = None,
) -> Path:
    """Write one batch of `rows` (business columns; the rest null) under the contract's schema.

    Unless given, `_extracted_at` is the batch's interval start (later batches were extracted later,
    as incremental staging expects), or EXTRACTED_AT for a batch id that is not a time.

    The folder is landed as the contract asks of any loader: Parquet under a temporary name renamed
    into place (replacing an earlier version), then `_SUCCESS`. With `visible` (the default) a
    `_CHECKED.json` follows, as if the batch's checks had passed at `visible_at` (default: its
    `_extracted_at`), so readers take it; `visible=False` leaves an unpublished folder (no `_SUCCESS`).
    """
    contract = contract_for(source, stream)
    if extracted_at is None:
        try:
            extracted_at = datetime.strptime(batch_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            extracted_at = EXTRACTED_AT
    full = [{**row, "_batch_id": batch_id, "_extracted_at": extracted_at} for row in rows]
    table = pa.Table.from_pylist(full, schema=contract.schema)
    folder = lake_path(lake) / "raw" / source / stream / f"batch_id={batch_id}"
    if not is_local(folder):  # object storage: a new file, then `_SUCCESS` listing it (connectors/lake.py)
        publication = uuid.uuid4().hex
        name = f"part-{publication}-00000.parquet"
        with (folder / name).open("wb") as sink:
            pq.write_table(table, sink)  # even with no rows, as locally: an empty batch is still a batch
        if visible:
            publish_files(folder, publication, [name], None)
            write_marker(folder, CHECKED, {"at": (visible_at or extracted_at).isoformat()})
        return folder
    tmp = folder.with_name(f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    pq.write_table(table, tmp / "part-00000.parquet")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    if visible:
        mark_visible(folder, visible_at or extracted_at)
    return folder


def mark_visible(folder: Path, at: datetime = EXTRACTED_AT) -> None:
    """Publish a landed folder (`_SUCCESS`) and mark it checked at `at`, as its loader and checks would."""
    write_marker(folder, SUCCESS)
    write_marker(folder, CHECKED, {"at": at.isoformat()})


def land_empty_streams(lake: Path, batch_id: str = "00000000T000000Z") -> None:
    """An empty batch for every stream that has none, so every dbt source resolves."""
    for contract in registry().streams:
        if not list((Path(lake) / "raw" / contract.source / contract.stream).glob("batch_id=*/*.parquet")):
            land(lake, contract.source, contract.stream, batch_id, [])
