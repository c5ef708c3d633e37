"""Read-only access to the embedded DuckDB warehouse, for reports, `tessera explain` and task summaries."""

from __future__ import annotations

from contextlib import contextmanager

from tessera.home import TesseraHome, tessera_home


@contextmanager
def connect(home: TesseraHome | None = None):
    import duckdb

    home = home or tessera_home()
    if not home.warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {home.warehouse}: run `tessera transform` first")
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        yield con
    finally:
        con.close()


def mart_counts(home: TesseraHome | None = None) -> dict[str, int]:
    with connect(home) as con:
        return {
            table: con.execute(f"select count(*) from marts.{table}").fetchone()[0]
            for table in ("golden_customers", "customer_xref", "golden_customer_lineage")
        }
