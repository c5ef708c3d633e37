"""A dbt-duckdb plugin: the warehouse reads a lake on object storage (`TESSERA_LAKE=s3://…`).

The duckdb profile lists this module under `plugins`; dbt-duckdb calls `configure_connection` on every
connection it opens, and the lake's fsspec filesystem is registered there, so the source views'
`read_parquet('s3://…')` reads the bucket with the credentials of the standard AWS variables.
"""

from __future__ import annotations

import os

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from connectors.lake_storage import LAKE_VARIABLE, lake_path, register_with_duckdb


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        location = os.environ.get(LAKE_VARIABLE)
        if location:
            register_with_duckdb(conn, lake_path(location))
