"""What each destination confirmed, per segment: the state a sync diffs against and advances.

One DuckDB file per (segment, destination) under `$TESSERA_HOME/activation/state/`, so syncs to different
destinations never wait on each other. `members` holds each key as the destination last confirmed it (the
payload sent, and its hash): a row enters it only after the destination confirmed it, in the same
transaction as nothing else, so a crash or a failed run can leave rows unsent but never claimed.
`rejections` keeps what a destination refused, with its own error, until a later run gets the row in.
`sync_log` has one row per run. A file lock keeps two runs of one pair from interleaving.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

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
def open_state(
    home: TesseraHome, segment: str, destination: str, *, wait: float = 0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The pair's state database, locked for this run (raises `SyncBusyError` if another run holds it)."""
    import duckdb
    from filelock import FileLock, Timeout

    path = state_path(home, segment, destination)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise SyncBusyError(f"{segment} -> {destination} is being synced by another run ({lock.lock_file})") from None
    try:
        con = duckdb.connect(str(path))
        try:
            con.execute("set TimeZone = 'UTC'")
            con.execute(SCHEMA)
            yield con
        finally:
            con.close()
    finally:
        lock.release()


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
