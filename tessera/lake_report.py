"""What is in the lake: batches, rows and quarantined records per stream, read in bulk with DuckDB."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connectors.registry import registry


@dataclass(frozen=True)
class StreamReport:
    source: str
    stream: str
    batches: int
    rows: int
    quarantined: int


def _count(con, folder: Path) -> tuple[int, int]:
    files = list(folder.glob("batch_id=*/*.parquet"))
    if not files:
        return 0, 0
    pattern = str(folder / "batch_id=*" / "*.parquet")
    batches, rows = con.execute(
        "select count(distinct _batch_id), count(*) from read_parquet(?, union_by_name = true)", [pattern]
    ).fetchone()
    return int(batches), int(rows)


def lake_report(lake: Path) -> list[StreamReport]:
    import duckdb

    con = duckdb.connect()
    reports = []
    for contract in registry().streams:
        batches, rows = _count(con, lake / "raw" / contract.lake_path)
        _, quarantined = _count(con, lake / "quarantine" / contract.lake_path)
        reports.append(StreamReport(contract.source, contract.stream, batches, rows, quarantined))
    return reports
