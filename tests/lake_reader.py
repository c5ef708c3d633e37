"""Read what landed in a test's lake, the way dbt sources will (DuckDB over the Parquet files)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from connectors.lake import BATCH_PREFIX, batch_files, batch_ids
from connectors.lake_storage import is_local, lake_path


def landed(lake: Path, source: str, stream: str, zone: str = "raw") -> pa.Table:
    folder = lake_path(lake) / zone / source / stream
    if not is_local(folder):  # object storage: each batch's files as `_SUCCESS` lists them
        parts = [
            pq.read_table(part.path, filesystem=part.fs)
            for batch in batch_ids(folder)
            for part in batch_files(folder / f"{BATCH_PREFIX}{batch}")
        ]
        return pa.concat_tables(parts, promote_options="default") if parts else pa.table({})
    if not list(folder.glob("batch_id=*/*.parquet")):
        return pa.table({})
    pattern = str(folder / "batch_id=*" / "*.parquet")
    return duckdb.sql(f"select * from read_parquet('{pattern}', union_by_name = true)").to_arrow_table()


def column(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist() if table.num_columns else []
