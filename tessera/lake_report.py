"""What is in the lake: batches, rows and quarantined records per stream, from the Parquet footers of the files
each batch is made of (`batch_files`: on object storage those its `_SUCCESS` lists), so a folder lake and a
bucket count alike and a part file a batch does not list is not counted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from connectors.lake import batch_dir, batch_files, batch_ids, open_parquet, stream_dir
from connectors.lake_storage import LakePath
from connectors.registry import registry

ZONES = ("raw", "quarantine")


@dataclass(frozen=True)
class BatchRows:
    """One batch folder of a lake zone and the rows its files hold."""

    zone: str
    source: str
    stream: str
    batch_id: str
    rows: int


def batch_rows(lake: LakePath, zone: str) -> Iterator[BatchRows]:
    """Every batch folder of every registered stream in one zone (`raw` or `quarantine`), with its row count
    read from its files' footers (no data read)."""
    for contract in registry().streams:
        for batch in batch_ids(stream_dir(lake, zone, contract.source, contract.stream)):
            folder = batch_dir(lake, zone, contract.source, contract.stream, batch)
            rows = sum(open_parquet(part).metadata.num_rows for part in batch_files(folder))
            yield BatchRows(zone, contract.source, contract.stream, batch, rows)


@dataclass(frozen=True)
class StreamReport:
    source: str
    stream: str
    batches: int  #: batch folders landed in the raw zone, empty ones too
    rows: int
    quarantined: int


def lake_report(lake: LakePath) -> list[StreamReport]:
    counts: dict[tuple[str, str], list[int]] = {(c.source, c.stream): [0, 0, 0] for c in registry().streams}
    for zone in ZONES:
        for batch in batch_rows(lake, zone):
            found = counts[batch.source, batch.stream]
            if zone == "raw":
                found[0] += 1
                found[1] += batch.rows
            else:
                found[2] += batch.rows
    return [StreamReport(source, stream, *found) for (source, stream), found in counts.items()]
