"""PostgreSQL destination: a segment's members as rows of a table, one row per customer key.

The table is created when missing: the key column (`text` primary key), one column per field, typed
from the values (`text`, `bigint`, `double precision`, `boolean`, or `jsonb` for lists, objects and
mixed values), `identifiers jsonb` and `_synced_at timestamptz`. A field seen later adds its column; a
column is never dropped or retyped. A field that has only been null so far gets its column when its
first value arrives, so the type comes from a value rather than a guess.

Each batch is one transaction: an upsert (`INSERT ... ON CONFLICT DO UPDATE`, skipping rows that would
not change) or a delete, so repeating a batch after a lost answer changes nothing. A lost connection is
retried with backoff; a row the table refuses (too long for a column someone made `varchar(5)`, the
wrong type, a constraint) fails the batch as `BatchRefused`, and the engine splits it to find the row.
A person who asks to be forgotten is deleted from the table whatever the mode (`delete`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor
from psycopg2.extras import Json, execute_values
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from connectors.connection import ConnectionInfo
from connectors.destinations.base import (
    BatchRefused,
    Change,
    Delivery,
    Destination,
    DestinationError,
    Member,
    Mode,
    SyncRun,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
NAME = re.compile(r"\w+")  # letters, digits, underscores: never needs more than quoting
MAX_NAME_BYTES = 63  # PostgreSQL silently truncates longer identifiers
IDENTIFIERS, SYNCED_AT = "identifiers", "_synced_at"
#: Connection-level failures worth another try (dropped, refused, restarting server, deadlock).
TRANSIENT = (psycopg2.OperationalError, psycopg2.InterfaceError)
#: Errors caused by the data in some row of the batch.
ROW_ERRORS = (psycopg2.DataError, psycopg2.IntegrityError, psycopg2.errors.DatatypeMismatch)
INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
JSON_TYPES = frozenset({"json", "jsonb"})


def column_type(values: Sequence[Any]) -> str | None:
    """The column type for a new field's values; None while they are all null."""
    kinds = {_kind(value) for value in values if value is not None}
    if not kinds:
        return None
    if len(kinds) == 1:
        return kinds.pop()
    return "double precision" if kinds <= {"bigint", "double precision"} else "jsonb"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double precision"
    return "text" if isinstance(value, str) else "jsonb"


def _adapt(value: Any, data_type: str) -> Any:
    """A field value as the column takes it; a fractional float for an integer column stays a string,
    so PostgreSQL refuses it instead of rounding it."""
    if value is None:
        return None
    if data_type in JSON_TYPES or isinstance(value, list | dict):
        return Json(value)
    if isinstance(value, float) and data_type in INTEGER_TYPES:
        return int(value) if value.is_integer() else repr(value)
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def _usable_name(name: str) -> bool:
    return bool(NAME.fullmatch(name)) and len(name.encode()) <= MAX_NAME_BYTES


def _error_text(exc: BaseException | None) -> str:
    """PostgreSQL's message and detail, without the statement excerpt that would quote other rows' data."""
    diag = getattr(exc, "diag", None)
    if diag is not None and diag.message_primary:
        return " ".join(filter(None, (diag.message_primary, diag.message_detail)))
    return " ".join(str(exc).split())


class PostgresDestination(Destination):
    """Members upserted into (and deleted from) one table.

    Connection: host, port, login, password, and `schema` = the database (as Airflow's postgres
    connection has it). Extra: `table` (required, `table` or `schema.table`, schema `public` by
    default), `key_column` (default `customer_id`), `sslmode`, `connect_timeout_seconds` (10), and the
    retries of lost connections: `max_attempts` (4), `initial_wait_seconds` (0.5), `max_wait_seconds` (10)."""

    kind = "postgres"
    modes = frozenset({Mode.MIRROR, Mode.UPSERT})
    batch_size = 5000
    deletes = True

    def __init__(self, conn: ConnectionInfo, run: SyncRun):
        super().__init__(conn, run)
        table = str(conn.extra.get("table") or "")
        schema, _, name = table.rpartition(".")
        self.schema, self.table_name = schema or "public", name
        self.key_column = conn.option("key_column", "customer_id", str)
        where = f"postgres {conn.conn_id} ({conn.host or 'localhost'}:{conn.port or 5432}/{conn.schema}"
        self._where = f"{where}, table {self.schema}.{self.table_name})"
        if not conn.schema:
            raise DestinationError(f"{where}): set the connection's schema to the database name")
        for what, value in (("table", self.schema), ("table", self.table_name), ("key_column", self.key_column)):
            if not _usable_name(value):
                shape = "[schema.]table" if what == "table" else "a column name"
                raise DestinationError(
                    f"connection {conn.conn_id!r}: extra {what!r} must be {shape} of letters, digits and "
                    f"underscores (at most {MAX_NAME_BYTES} bytes a name), got {conn.extra.get(what)!r}"
                )
        self.max_attempts = conn.option("max_attempts", 4, int)
        initial = conn.option("initial_wait_seconds", 0.5, float)
        self._wait = wait_exponential_jitter(
            multiplier=initial, max=conn.option("max_wait_seconds", 10.0, float), jitter=initial
        )
        self._connect_args = {
            "host": conn.host,
            "port": conn.port or 5432,
            "user": conn.login,
            "password": conn.password,
            "dbname": conn.schema,
            "connect_timeout": max(1, round(conn.option("connect_timeout_seconds", 10, float))),
            "application_name": "tessera-sync",
            **({"sslmode": conn.option("sslmode", "prefer", str)} if "sslmode" in conn.extra else {}),
        }
        self._table = sql.Identifier(self.schema, self.table_name)
        self._reserved = {self.key_column, IDENTIFIERS, SYNCED_AT}
        self._columns: dict[str, str] | None = None  #: column -> data type, once the table was checked
        self._conn: psycopg2.extensions.connection | None = None
        self._retried = 0

    @property
    def retried(self) -> int:
        """Attempts made again after a lost or refused connection."""
        return self._retried

    def invalid(self, member: Member) -> str | None:
        if "\x00" in member.key:
            return "the key contains a NUL character, which PostgreSQL text cannot hold"
        for name, value in member.fields.items():
            if not _usable_name(name):
                return (
                    f"field {name!r} is not a usable column name (letters, digits and underscores, "
                    f"at most {MAX_NAME_BYTES} bytes)"
                )
            if name in self._reserved:
                return f"field {name!r} has the name of the table's own column {name!r}; rename the field"
            if _has_nul(value):
                return f"field {name!r} contains a NUL character, which PostgreSQL text cannot hold"
        return None

    def send(self, change: Change, batch: Sequence[Member]) -> Delivery:
        """Upsert (add, update) or delete (remove) the batch in one transaction; commit confirms every key."""
        columns = self._prepare_table(batch if change is not Change.REMOVE else ())
        if change is Change.REMOVE:
            query = sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(self._table, sql.Identifier(self.key_column))
            self._execute("delete", lambda cur: cur.execute(query, ([m.key for m in batch],)), batch)
        else:
            self._execute("upsert", lambda cur: self._upsert(cur, batch, columns), batch)
        log.info(
            "postgres batch applied",
            extra={"destination": self.run.destination, "segment": self.run.segment, "change": str(change),
                   "table": f"{self.schema}.{self.table_name}", "rows": len(batch)},
        )  # fmt: skip
        return Delivery.all_of(batch)

    def delete(self, batch: Sequence[Member]) -> Delivery:
        """The rows of people who asked to be forgotten, deleted as a mirror's leavers are."""
        return self.send(Change.REMOVE, batch)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _upsert(self, cur: Cursor, batch: Sequence[Member], columns: dict[str, str]) -> None:
        fields = [name for name in dict.fromkeys(f for m in batch for f in m.fields) if name in columns]
        written = [*fields, IDENTIFIERS]
        query = sql.SQL(
            "INSERT INTO {table} AS t ({key}, {written}, {synced_at}) VALUES %s ON CONFLICT ({key}) DO UPDATE "
            "SET {assign}, {synced_at} = EXCLUDED.{synced_at} WHERE ROW({old}) IS DISTINCT FROM ROW({new})"
        ).format(
            table=self._table,
            key=sql.Identifier(self.key_column),
            written=sql.SQL(", ").join(map(sql.Identifier, written)),
            synced_at=sql.Identifier(SYNCED_AT),
            assign=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in written),
            old=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in written),
            new=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in written),
        )
        rows = [
            (m.key, *(_adapt(m.fields.get(f), columns[f]) for f in fields), Json(dict(m.identifiers))) for m in batch
        ]
        template = "(" + ", ".join(["%s"] * (len(fields) + 2)) + ", now())"
        execute_values(cur, query, rows, template=template, page_size=1000)

    def _prepare_table(self, batch: Sequence[Member]) -> dict[str, str]:
        """The table's columns, after creating the table and adding columns for new non-null fields."""
        if self._columns is not None and not self._new_columns(batch, self._columns):
            return self._columns

        def prepare(cur: Cursor) -> dict[str, str]:
            columns = self._read_columns(cur)
            if not columns:
                cur.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} ({} text PRIMARY KEY)").format(
                        self._table, sql.Identifier(self.key_column)
                    )
                )
                columns = self._read_columns(cur)
            if self.key_column not in columns:
                raise DestinationError(
                    f"{self._where}: the table has no column {self.key_column!r}; set extra 'key_column' to its key"
                )
            wanted = {IDENTIFIERS: "jsonb", SYNCED_AT: "timestamptz", **self._new_columns(batch, columns)}
            for name, data_type in wanted.items():
                if name not in columns:
                    cur.execute(
                        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                            self._table, sql.Identifier(name), sql.SQL(data_type)
                        )
                    )
            return self._read_columns(cur)

        self._columns = self._execute("prepare table", prepare)
        return self._columns

    def _new_columns(self, batch: Sequence[Member], columns: dict[str, str]) -> dict[str, str]:
        """Fields of the batch with no column yet and a value to type it by, with that type, in field order."""
        names = [f for f in dict.fromkeys(f for m in batch for f in m.fields) if f not in columns]
        typed = {name: column_type([m.fields.get(name) for m in batch]) for name in names}
        return {name: data_type for name, data_type in typed.items() if data_type}

    def _read_columns(self, cur: Cursor) -> dict[str, str]:
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (self.schema, self.table_name),
        )
        return dict(cur.fetchall())

    def _execute(self, call: str, work: Callable[[Cursor], T], batch: Sequence[Member] = ()) -> T:
        """Run `work` in one transaction, retrying lost connections; PostgreSQL's refusals become ours."""
        try:
            return self._with_retries(call, work)
        except ROW_ERRORS as exc:
            if not batch:
                raise DestinationError(f"{self._where}: {call} failed: {_error_text(exc)}") from exc
            raise BatchRefused(f"{self._where}: {call} of {len(batch)} rows refused: {_error_text(exc)}") from exc
        except psycopg2.Error as exc:
            raise DestinationError(f"{self._where}: {call} failed: {_error_text(exc)}") from exc

    def _with_retries(self, call: str, work: Callable[[Cursor], T]) -> T:
        def before_sleep(state: RetryCallState) -> None:
            self._retried += 1
            error = state.outcome.exception() if state.outcome else None
            log.warning("%s: %s: %s; trying again in %.2fs", self._where, call, _error_text(error),
                        state.next_action.sleep if state.next_action else 0)  # fmt: skip

        retrying = Retrying(
            retry=retry_if_exception_type(TRANSIENT),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._in_transaction(work)
        except TRANSIENT as exc:
            raise DestinationError(
                f"{self._where}: {call} failed after {self.max_attempts} attempts: {_error_text(exc)}"
            ) from exc
        raise AssertionError("unreachable")

    def _in_transaction(self, work: Callable[[Cursor], T]) -> T:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(**self._connect_args)
        try:
            with self._conn, self._conn.cursor() as cur:  # commits, or rolls back on any error
                return work(cur)
        except TRANSIENT:
            self.close()
            raise
