"""The Python functions dbt's SQL calls on DuckDB, registered on every connection dbt opens.

A dbt-duckdb plugin: the duckdb profile lists `transforms.enrichment.duckdb_functions` under `plugins`, and
dbt-duckdb calls `configure_connection` on each new connection. The functions are vectorised (Arrow
in, Arrow out) so DuckDB hands them 2,048 rows at a time. The `tessera_` prefix keeps them apart
from DuckDB's own functions; the dbt macros in `macros/normalize/` and `macros/enrichment/` are the
only callers. The list of functions is `sql_functions.FUNCTIONS`, which Spark registers too
(`spark_functions.py`).
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from duckdb.sqltypes import VARCHAR

from transforms.enrichment.sql_functions import FUNCTIONS, SqlFunction

__all__ = ["FUNCTIONS", "Plugin", "SqlFunction", "register_functions"]


def register_functions(conn: DuckDBPyConnection) -> None:
    """Register every function in FUNCTIONS on `conn` (skipping ones it already has)."""
    existing = {
        row[0]
        for row in conn.execute(
            "select function_name from duckdb_functions() where function_name like 'tessera\\_%' escape '\\'"
        ).fetchall()
    }
    for f in FUNCTIONS:
        if f.name in existing:
            continue
        conn.create_function(
            f.name,
            f.fn,
            [VARCHAR] * f.arity,
            VARCHAR,
            type="arrow",
            # The functions see NULLs (a number without a default region can still be `+44 …`)
            # and may return NULL for a value they cannot read.
            null_handling="special",
            side_effects=False,
        )


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        register_functions(conn)
