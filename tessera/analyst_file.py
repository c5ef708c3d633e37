"""The analysts' warehouse file on DuckDB: only the masked `analyst` schema, as tables.

DuckDB has no roles: whoever opens a file reads every table in it. So the boundary is the file. Each
publication (and each erasure that rewrites the published file) writes `published/warehouse_analyst.duckdb`
from the published warehouse's `analyst` views (docs/access-control.md). Analysts get read access to that
file, and file permissions keep them away from the full one. Rows are copied, not views: a view keeps its
query, which names the unmasked marts. The file is written under a temporary name and renamed into place,
so an analyst with the file open keeps a consistent snapshot, as with the published warehouse.
"""

from __future__ import annotations

import logging
from pathlib import Path

from connectors.durable import replace_durably
from tessera.home import TesseraHome

log = logging.getLogger(__name__)

#: The schema analysts query, on every engine (dbt_project/models/analyst/).
ANALYST_SCHEMA = "analyst"


def analyst_file_path(home: TesseraHome) -> Path:
    """Not `analyst.duckdb`: DuckDB names a database after its file, and `analyst.golden_customers` would be
    ambiguous between a database and a schema of that name."""
    return home.root / "published" / "warehouse_analyst.duckdb"


def publish_analyst_file(home: TesseraHome, published: Path) -> Path | None:
    """Write the analysts' file from the published warehouse at `published`; None when it has no analyst views
    (a build that left them out). Call it while holding the publication lock."""
    import duckdb

    target = analyst_file_path(home)
    partial = target.with_name("warehouse_analyst.partial.duckdb")
    for leftover in (partial, partial.with_name(partial.name + ".wal")):
        leftover.unlink(missing_ok=True)
    con = duckdb.connect(str(partial))
    try:
        con.execute("attach ? as published (read_only)", [str(published)])
        views = [
            name
            for (name,) in con.execute(
                "select view_name from duckdb_views()"
                " where database_name = 'published' and schema_name = ? order by view_name",
                [ANALYST_SCHEMA],
            ).fetchall()
        ]
        if views:
            con.execute(f"create schema {ANALYST_SCHEMA}")
            for view in views:
                con.execute(
                    f'create table {ANALYST_SCHEMA}."{view}" as select * from published.{ANALYST_SCHEMA}."{view}"'
                )
        con.execute("detach published")
        con.execute("checkpoint")
    finally:
        con.close()
    if not views:
        partial.unlink(missing_ok=True)
        log.warning("the published warehouse %s has no %s views: no analyst file written", published, ANALYST_SCHEMA)
        return None
    replace_durably(partial, target)
    log.info("analysts' file written", extra={"path": str(target), "tables": len(views)})
    return target
