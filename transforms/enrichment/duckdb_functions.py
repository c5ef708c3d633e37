"""The Python functions dbt's SQL calls on DuckDB, registered on every connection dbt opens.

A dbt-duckdb plugin: the duckdb profile lists `transforms.enrichment.duckdb_functions` under `plugins`, and
dbt-duckdb calls `configure_connection` on each new connection. The functions are vectorised (Arrow
in, Arrow out) so DuckDB hands them 2,048 rows at a time. The `tessera_` prefix keeps them apart
from DuckDB's own functions; the dbt macros in `macros/normalize/` and `macros/enrichment/` are the
only callers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from duckdb.sqltypes import VARCHAR

from transforms.enrichment import phone_numbers, web_events


@dataclass(frozen=True)
class SqlFunction:
    name: str
    fn: Callable
    arity: int


FUNCTIONS = (
    SqlFunction("tessera_phone_e164", phone_numbers.to_e164_array, 2),
    SqlFunction("tessera_phone_region", phone_numbers.region_of_array, 1),
    SqlFunction("tessera_ua_device_type", web_events.device_type_array, 1),
    SqlFunction("tessera_ua_browser_family", web_events.browser_family_array, 1),
    SqlFunction("tessera_ua_os_family", web_events.os_family_array, 1),
    SqlFunction("tessera_ip_country", web_events.ip_country_array, 1),
)


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
