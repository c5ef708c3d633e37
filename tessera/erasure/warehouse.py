"""The person out of both DuckDB files: the working warehouse dbt builds into, and the published copy
readers open (`tessera/publication.py`).

Rows go wherever a text column, trimmed and lower-cased, holds a value that names the person (a record key,
a customer id, an identifier value, a spelling): staging, the identity graph and its decisions, the id
history, the match pairs, the marts and the segments alike. Views hold no rows.

DuckDB keeps deleted rows in free blocks until the file is rewritten, and neither `CHECKPOINT` nor `VACUUM`
gives those blocks back. So each file is then copied whole into a new one (`ATTACH` + `COPY FROM DATABASE`,
which carries schemas, tables, views and macros), fsynced and renamed over the old one: nothing of the deleted
rows is left on the disk under `$TESSERA_HOME`.

The published copy keeps the publication's promises: it is never written in place (the rewrite happens in a
copy that replaces it in one rename, under the publication lock), and its manifest is rewritten to describe
the new file (inode, mart counts, size), keeping what the build read from the lake.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from connectors.durable import replace_durably, write_atomically
from tessera.analyst_file import publish_analyst_file
from tessera.duckdb_files import connect_or_explain
from tessera.erasure.resolve import ErasurePlan
from tessera.home import TesseraHome
from tessera.publication import manifest_path, mart_table_counts_of, publication_lock, published_path

log = logging.getLogger(__name__)

_ERASING = ".erasing"
_COMPACT = ".compact"


class WarehouseBusy(RuntimeError):
    """Another process has the working warehouse open (a build): erase once it has finished."""


@dataclass
class WarehouseErasure:
    """Rows deleted, by `schema.table`, in one file."""

    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def erase_from_working(home: TesseraHome, plan: ErasurePlan) -> WarehouseErasure:
    """Delete the person from the working warehouse, then rewrite the file."""
    path = home.warehouse
    if not path.exists():
        return WarehouseErasure()
    return delete_person(path, plan, rewrite=True)


def erase_from_published(home: TesseraHome, plan: ErasurePlan) -> WarehouseErasure:
    """Delete the person from a copy of the published warehouse and put the rewritten copy in its place."""
    target = published_path(home)
    if not target.exists():
        return WarehouseErasure()
    with publication_lock(target):
        copy, compacted = _sibling(target, _ERASING), _sibling(_sibling(target, _ERASING), _COMPACT)
        for leftover in (copy, compacted, _sibling(copy, ".wal")):
            _remove(leftover)
        shutil.copyfile(target, copy)
        try:
            done = delete_person(copy, plan)
            _copy_database(copy, compacted)
            tables = mart_table_counts_of(compacted)
            document = _manifest(home)
            replace_durably(compacted, target)
            publish_analyst_file(home, target)  # the analysts' copy held the person too
            if document is not None:
                stat = target.stat()
                document.update(tables=tables, size_bytes=stat.st_size, inode=stat.st_ino)
                write_atomically(manifest_path(home), json.dumps(document, indent=2) + "\n")
        finally:
            for leftover in (copy, compacted, _sibling(copy, ".wal")):
                _remove(leftover)
    return done


def delete_person(path: Path, plan: ErasurePlan, *, rewrite: bool = False) -> WarehouseErasure:
    """Delete, in one transaction, every row of every table whose text columns name the person. With `rewrite`,
    then copy the file whole into a new one and rename that over it, still holding DuckDB's lock on the file,
    so that no build opens it in between and writes into the file being replaced."""
    import duckdb

    con = connect_or_explain(
        path,
        f"cannot erase from {path}: it is open elsewhere (a build still running?). Serve the request again "
        "once it has finished; nothing was deleted from this file",
        error=WarehouseBusy,
    )
    done = WarehouseErasure()
    try:
        con.execute("begin")
        con.execute(
            "create temp table _erasure_tokens as select unnest(?::varchar[]) as token", [sorted(plan.exact_tokens())]
        )
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_type = 'BASE TABLE' and table_catalog = current_database() order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ?"
                    " and table_catalog = current_database() and data_type = 'VARCHAR' order by ordinal_position",
                    [schema, table],
                ).fetchall()
            ]
            if not columns:
                continue
            condition = " or ".join(f'lower(trim("{c}")) in (select token from _erasure_tokens)' for c in columns)
            (deleted,) = con.execute(f'delete from "{schema}"."{table}" where {condition}').fetchone()
            if deleted:
                done.rows[f"{schema}.{table}"] = deleted
        con.execute("commit")
        con.execute("checkpoint")
        if rewrite:
            _rewrite_while_locked(con, path)
    except BaseException:
        try:
            con.execute("rollback")
        except duckdb.Error:
            pass  # the failed statement already ended the transaction
        raise
    finally:
        con.close()
    return done


def _rewrite_while_locked(con, path: Path) -> None:
    compacted = _sibling(path, _COMPACT)
    _remove(compacted)
    try:
        con.execute(f"attach '{_sql_text(compacted)}' as erasure_copy")
        con.execute(
            'copy from database "' + con.execute("select current_database()").fetchone()[0] + '" to erasure_copy'
        )
        con.execute("checkpoint erasure_copy")
        con.execute("detach erasure_copy")
        replace_durably(compacted, path)
    finally:
        _remove(compacted)


def _copy_database(source: Path, destination: Path) -> None:
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach '{_sql_text(source)}' as erasure_source (read_only)")
        con.execute(f"attach '{_sql_text(destination)}' as erasure_copy")
        con.execute("copy from database erasure_source to erasure_copy")
        con.execute("checkpoint erasure_copy")
        con.execute("detach erasure_copy")
        con.execute("detach erasure_source")
    finally:
        con.close()
    if _sibling(destination, ".wal").exists():
        raise RuntimeError(f"{destination} kept a write-ahead log after its checkpoint: the copy is not used")


def _manifest(home: TesseraHome) -> dict | None:
    path = manifest_path(home)
    return json.loads(path.read_text()) if path.exists() else None


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
