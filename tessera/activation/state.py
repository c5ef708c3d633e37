"""What each destination confirmed, per segment: the state a sync diffs against and advances.

One DuckDB file per (segment, destination) under `$TESSERA_HOME/activation/state/`, so syncs to different
destinations never wait on each other. `members` holds each key as the destination last confirmed it (the
payload sent, and its hash): a row enters it only after the destination confirmed it, in the same
transaction as nothing else, so a crash or a failed run can leave rows unsent but never claimed.
`rejections` keeps what a destination refused, with its own error, until a later run gets the row in.
`sync_log` has one row per run. A file lock keeps two runs of one pair from interleaving.

`erasure_queue` holds what a person's erasure still has to do at the destination (`erasure.py`): their
rows leave `members` for it in one transaction, and leave it once the destination confirmed. Deleting
rows leaves their bytes in DuckDB's free blocks, so an erasure rewrites the file (`rewrite_state`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.durable import replace_durably
from tessera.home import TesseraHome

if TYPE_CHECKING:
    import duckdb

SCHEMA = """
create table if not exists members (
    key varchar primary key,
    row_hash varchar not null,
    payload varchar not null,
    confirmed_at timestamptz not null
);
create table if not exists rejections (
    key varchar primary key,
    row_hash varchar not null,
    error varchar not null,
    first_rejected_at timestamptz not null,
    last_rejected_at timestamptz not null,
    attempts integer not null
);
create table if not exists invalid_rows (
    run_id varchar not null,
    key varchar,
    reason varchar not null
);
create table if not exists sync_log (
    run_id varchar not null,
    segment varchar not null,
    destination varchar not null,
    mode varchar not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    status varchar not null,
    planned_add bigint, planned_update bigint, planned_remove bigint,
    added bigint, updated bigint, removed bigint,
    invalid bigint, rejected bigint, retried bigint, excluded bigint,
    members bigint,
    location varchar,
    error varchar
);
create table if not exists erasure_queue (
    key varchar not null,
    action varchar not null,
    payload varchar not null,
    queued_at timestamptz not null,
    attempts integer not null,
    last_error varchar,
    primary key (key, action)
);
"""

LOG_COLUMNS = (
    "run_id", "segment", "destination", "mode", "started_at", "finished_at", "status",
    "planned_add", "planned_update", "planned_remove", "added", "updated", "removed",
    "invalid", "rejected", "retried", "excluded", "members", "location", "error",
)  # fmt: skip


def state_dir(home: TesseraHome) -> Path:
    return home.root / "activation" / "state"


def state_path(home: TesseraHome, segment: str, destination: str) -> Path:
    return state_dir(home) / segment / f"{destination}.duckdb"


class SyncBusyError(RuntimeError):
    """Another run of the same segment and destination holds the lock."""


@contextmanager
def locked_pair(home: TesseraHome, segment: str, destination: str, *, wait: float = 0) -> Iterator[Path]:
    """Hold the pair's lock (raises `SyncBusyError` if another run holds it); yields its state file's path."""
    from filelock import FileLock, Timeout

    path = state_path(home, segment, destination)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise SyncBusyError(f"{segment} -> {destination} is being synced by another run ({lock.lock_file})") from None
    try:
        yield path
    finally:
        lock.release()


@contextmanager
def connected(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A state file opened with its tables in place; only under the pair's lock (`locked_pair`)."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(SCHEMA)
        yield con
    finally:
        con.close()


@contextmanager
def open_state(
    home: TesseraHome, segment: str, destination: str, *, wait: float = 0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The pair's state database, locked for this run (raises `SyncBusyError` if another run holds it)."""
    with locked_pair(home, segment, destination, wait=wait) as path, connected(path) as con:
        yield con


def rewrite_state(path: Path) -> None:
    """Copy a state file's live rows into a new file and put it in place, so deleted rows' bytes are gone.

    DuckDB keeps deleted rows in blocks it may reuse but does not wipe, and `VACUUM` does not give them
    back. `COPY FROM DATABASE` writes only live rows (with the tables' constraints) into a fresh file,
    which then replaces the old one in one rename. Call it under the pair's lock, with no connection open."""
    import duckdb

    partial = path.with_name(path.name + ".rewrite")
    partial.unlink(missing_ok=True)
    Path(str(partial) + ".wal").unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        (name,) = con.execute("select current_database()").fetchone()
        con.execute(f"attach '{_sql_text(str(partial))}' as __rewritten")
        con.execute(f'copy from database "{name}" to __rewritten')
        con.execute("detach __rewritten")
    finally:
        con.close()
    replace_durably(partial, path)
    Path(str(path) + ".wal").unlink(missing_ok=True)  # closed cleanly, so checkpointed: nothing to lose


def rewrite_owed(path: Path) -> Path:
    """A marker that rows were deleted from a state file which has not been rewritten since (a crash came
    between the two): whoever next holds the pair's lock for an erasure rewrites it."""
    return path.with_name(path.name + ".rewrite-owed")


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def confirm(con: duckdb.DuckDBPyConnection, plan_table: str, keys: Iterable[str], *, removed: bool = False) -> None:
    """Record keys the destination confirmed: their planned payloads become the state (or leave it, for
    removals), and any earlier rejection of them is cleared. One transaction. The keys' range bounds each
    statement, so a batch costs what it holds, not what the state holds."""
    import pyarrow as pa

    keys = sorted(keys)
    if not keys:
        return
    con.register("confirmed_keys", pa.table({"key": pa.array(keys, pa.string())}))
    within = "key between ? and ?"
    bounds = [keys[0], keys[-1]]
    try:
        con.execute("begin")
        con.execute(f"delete from members where {within} and key in (select key from confirmed_keys)", bounds)
        if not removed:
            con.execute(
                f"insert into members select p.key, p.row_hash, p.payload, now() from {plan_table} as p "
                f"where p.{within} and p.key in (select key from confirmed_keys)",
                bounds,
            )
        con.execute(f"delete from rejections where {within} and key in (select key from confirmed_keys)", bounds)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("confirmed_keys")


def reject(con: duckdb.DuckDBPyConnection, plan_table: str, errors: dict[str, str]) -> None:
    """Record rows the destination refused, with its error; they are sent again on later runs."""
    import pyarrow as pa

    if not errors:
        return
    refused = pa.table(
        {"key": pa.array(list(errors), pa.string()), "error": pa.array(list(errors.values()), pa.string())}
    )
    con.register("refused", refused)
    try:
        con.execute(
            f"""
            insert into rejections
            select r.key, coalesce(p.row_hash, ''), r.error, now(), now(), 1
            from refused as r left join {plan_table} as p on p.key = r.key
            on conflict (key) do update set
                row_hash = excluded.row_hash, error = excluded.error,
                last_rejected_at = excluded.last_rejected_at, attempts = rejections.attempts + 1
            """
        )
    finally:
        con.unregister("refused")


def write_log(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    values = [row.get(column) for column in LOG_COLUMNS]
    con.execute(f"insert into sync_log values ({', '.join('?' * len(LOG_COLUMNS))})", values)


def last_success(con: duckdb.DuckDBPyConnection) -> dict | None:
    found = con.execute(
        f"select {', '.join(LOG_COLUMNS)} from sync_log where status = 'success' order by started_at desc limit 1"
    ).fetchone()
    return dict(zip(LOG_COLUMNS, found, strict=True)) if found else None


def sync_log(home: TesseraHome) -> list[dict]:
    """Every pair's sync log, newest first (for `tessera sync --log` and `tessera status`)."""
    import duckdb

    rows = []
    for path in sorted(state_dir(home).glob("*/*.duckdb")):
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.IOException:  # a sync holds it: its log row is not written yet anyway
            continue
        try:
            rows += [
                dict(zip(LOG_COLUMNS, r, strict=True))
                for r in con.execute(f"select {', '.join(LOG_COLUMNS)} from sync_log").fetchall()
            ]
        finally:
            con.close()
    return sorted(rows, key=lambda r: r["started_at"] or datetime.min.replace(tzinfo=UTC), reverse=True)


def members_matching(
    con: duckdb.DuckDBPyConnection, customer_ids: Iterable[str], identifiers: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Confirmed members (key, payload) who are the person: by key, or by an identifier sent for them."""
    import pyarrow as pa

    wanted = pa.table({"key": pa.array(sorted(set(customer_ids)), pa.string())})
    pairs = sorted(set(identifiers))
    sent = pa.table(
        {"kind": pa.array([k for k, _ in pairs], pa.string()), "value": pa.array([v for _, v in pairs], pa.string())}
    )
    con.register("erased_keys", wanted)
    con.register("erased_identifiers", sent)
    try:
        return con.execute(
            """
            select m.key, m.payload from members as m
            where m.key in (select key from erased_keys)
               or exists (
                   select 1 from erased_identifiers as i
                   where json_extract_string(m.payload, '$.identifiers.' || i.kind) = i.value
               )
            order by m.key
            """
        ).fetchall()
    finally:
        con.unregister("erased_keys")
        con.unregister("erased_identifiers")


def queue_erasures(
    con: duckdb.DuckDBPyConnection, entries: Iterable[tuple[str, str, str]], keys: Iterable[str], values: Iterable[str]
) -> int:
    """In one transaction: queue (key, action, payload) for the destination, and take the person out of
    everything else the pair keeps: their `members`, `rejections` and `invalid_rows` rows, and any mention
    of `values` (their keys and identifiers, in clear and masked) in other rows' errors and the sync log.
    Returns how many rows besides members it deleted or rewrote."""
    import pyarrow as pa

    entries, keys = list(entries), sorted(set(keys))
    values = sorted({v for v in values if v}, key=len, reverse=True)
    con.register("erased_keys", pa.table({"key": pa.array(keys, pa.string())}))
    con.register("erased_values", pa.table({"value": pa.array(values, pa.string())}))
    mentions = "exists (select 1 from erased_values as v where contains({column}, v.value))"
    changed = 0
    try:
        con.execute("begin")
        if entries:
            con.executemany(
                "insert into erasure_queue values (?, ?, ?, now(), 0, null) on conflict do nothing", entries
            )
        con.execute("delete from members where key in (select key from erased_keys)")
        for table in ("rejections", "invalid_rows"):
            (count,) = con.execute(
                f"select count(*) from {table} where key in (select key from erased_keys)"
            ).fetchone()
            con.execute(f"delete from {table} where key in (select key from erased_keys)")
            changed += count
        for table, column in (("rejections", "error"), ("invalid_rows", "reason"), ("sync_log", "error"),
                              ("sync_log", "location")):  # fmt: skip
            rows = con.execute(
                f"select rowid, {column} from {table} where " + mentions.format(column=column)
            ).fetchall()
            for rowid, text in rows:
                con.execute(f"update {table} set {column} = ? where rowid = ?", [scrubbed(text, values), rowid])
            changed += len(rows)
        con.execute("commit")
        return changed
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("erased_keys")
        con.unregister("erased_values")


def scrubbed(text: str, values: Iterable[str]) -> str:
    """`text` with each of `values` replaced by `<erased>`, longest first (so no part of one is left)."""
    for value in sorted({v for v in values if v}, key=len, reverse=True):
        text = text.replace(value, "<erased>")
    return text


def queued_erasures(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """What erasures still have to do at the destination: (key, action, payload), in key order."""
    return con.execute("select key, action, payload from erasure_queue order by action, key").fetchall()


def erasures_done(con: duckdb.DuckDBPyConnection, action: str, keys: Iterable[str]) -> None:
    keys = list(keys)
    if keys:
        con.executemany("delete from erasure_queue where action = ? and key = ?", [(action, key) for key in keys])


def erasures_failed(con: duckdb.DuckDBPyConnection, action: str, keys: Iterable[str], error: str) -> None:
    """Count an attempt that the destination did not confirm; the rows stay queued for the next call."""
    keys = list(keys)
    if keys:
        con.executemany(
            "update erasure_queue set attempts = attempts + 1, last_error = ? where action = ? and key = ?",
            [(error, action, key) for key in keys],
        )


def last_mode(con: duckdb.DuckDBPyConnection) -> str | None:
    """The mode the pair was last synced in (its sync log knows; the manifest may have changed since)."""
    found = con.execute("select mode from sync_log order by started_at desc limit 1").fetchall()
    return found[0][0] if found else None
