"""Read what landed in a test's lake, the way dbt sources will (DuckDB over the Parquet files)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa


def landed(lake: Path, source: str, stream: str, zone: str = "raw") -> pa.Table:
    folder = Path(lake) / zone / source / stream
    if not list(folder.glob("batch_id=*/*.parquet")):
        return pa.table({})
    pattern = str(folder / "batch_id=*" / "*.parquet")
    return duckdb.sql(f"select * from read_parquet('{pattern}', union_by_name = true)").to_arrow_table()


def column(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist() if table.num_columns else []
