"""Read-only access to the embedded DuckDB warehouse, for reports, `tessera explain` and task summaries.

Readers open the published warehouse (`tessera/publication.py`): the last complete build that passed its
checks, which a running build never locks. Only code that belongs to the build itself (checks of the marts
dbt just built, a selection built for training) reads the working file dbt writes, with `connect_working`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tessera.home import TesseraHome, tessera_home
from tessera.publication import mart_table_counts, published_path


@contextmanager
def connect(home: TesseraHome | None = None) -> Iterator:
    """A read-only connection to the published warehouse. It reads one publication from start to end,
    even if a newer one is published meanwhile; reconnect to see the newer one."""
    home = home or tessera_home()
    path = published_path(home)
    if not path.exists():
        raise FileNotFoundError(f"no published warehouse at {path}: run `tessera transform` first")
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def connect_working(home: TesseraHome | None = None) -> Iterator:
    """A read-only connection to the working file dbt builds into: only for steps of the build itself,
    since it may hold a build in progress, and a running build locks every other process out of it."""
    import duckdb

    home = home or tessera_home()
    if not home.warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {home.warehouse}: run `tessera transform` first")
    try:
        con = duckdb.connect(str(home.warehouse), read_only=True)
    except duckdb.IOException as exc:
        raise RuntimeError(
            f"the working warehouse {home.warehouse} is locked by a running build; "
            f"readers use the published warehouse (tessera.warehouse.connect). DuckDB said: {exc}"
        ) from exc
    try:
        yield con
    finally:
        con.close()


def mart_counts(home: TesseraHome | None = None) -> dict[str, int]:
    """Rows per table of the published marts."""
    with connect(home) as con:
        return mart_table_counts(con)
