"""POS tables read with keyset pagination on (cursor column, primary key), portable across SQL engines.

The query uses SQLAlchemy Core on reflected tables, so bind values get each dialect's own
date handling (SQLite stores timestamps as text, PostgreSQL as `timestamp`), and the
`(ts > a) or (ts = a and key > b)` form works on every engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from connectors.base import CursorStream, Stream
from connectors.connection import ConnectionInfo
from connectors.contract import StreamContract, contract_for
from connectors.records import parse_decimal, parse_int, parse_timestamp, text


def _naive_utc(ts: datetime | None) -> datetime | None:
    """POS databases keep UTC in `timestamp without time zone` columns."""
    return ts.astimezone(UTC).replace(tzinfo=None) if ts is not None else None


class PosTable(CursorStream):
    """One POS table landing as one stream; the contract's columns are selected by name."""

    def __init__(
        self,
        engine: sa.Engine,
        contract: StreamContract,
        cursor_field: str,
        page_size: int = 5000,
        lookback=None,
        db_schema: str | None = None,
    ):
        self.engine = engine
        self.contract = contract
        self.cursor_field = cursor_field
        self.page_size = page_size
        self.db_schema = db_schema
        if lookback is not None:
            self.lookback = lookback
        self._table: sa.Table | None = None

    def table(self) -> sa.Table:
        if self._table is None:
            try:
                self._table = sa.Table(
                    self.contract.stream, sa.MetaData(), autoload_with=self.engine, schema=self.db_schema
                )
            except sa.exc.NoSuchTableError:
                raise RuntimeError(
                    f"pos: table {self.contract.stream!r} not found in {self.engine.url.render_as_string()}"
                ) from None
        return self._table

    def fetch(self, since: datetime | None, before: datetime) -> Iterator[list[Any]]:
        table = self.table()
        names = [c.name for c in self.contract.columns]
        missing = [n for n in names if n not in table.c]
        if missing:
            raise RuntimeError(f"pos: table {table.name!r} lacks columns {missing}")
        ts_col, key_col = table.c[self.cursor_field], table.c[self.contract.key]
        # Only the cursor and key keep their column types (they are compared in SQL); every other value
        # comes back as the driver gives it, so a malformed value is quarantined by `parse`, not a crash.
        columns = [
            table.c[n]
            if n in (self.cursor_field, self.contract.key)
            else sa.type_coerce(table.c[n], sa.String).label(n)
            for n in names
        ]
        base = sa.select(*columns).where(ts_col < _naive_utc(before))
        if since is not None:
            base = base.where(ts_col >= _naive_utc(since))
        base = base.order_by(ts_col, key_col).limit(self.page_size)
        last: tuple[Any, Any] | None = None
        with self.engine.connect() as conn:
            while True:
                query = base
                if last is not None:
                    query = query.where(sa.or_(ts_col > last[0], sa.and_(ts_col == last[0], key_col > last[1])))
                rows = [dict(r) for r in conn.execute(query).mappings()]
                if not rows:
                    return
                yield rows
                if len(rows) < self.page_size:
                    return
                last = (rows[-1][self.cursor_field], rows[-1][self.contract.key])

    def record_id(self, raw: Any) -> str | None:
        value = raw.get(self.contract.key) if isinstance(raw, dict) else None
        return str(value) if value is not None else None

    def parse(self, raw: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for f in self.contract.columns:
            value = raw.get(f.name)
            kind = f.type
            if kind == "timestamp":
                row[f.name] = parse_timestamp(value, f.name)
            elif kind.startswith("decimal"):
                row[f.name] = parse_decimal(value, f.name)
            elif kind == "int64":
                row[f.name] = parse_int(value, f.name)
            elif value is None or isinstance(value, str):
                row[f.name] = text(value)
            else:
                row[f.name] = str(value)
        return row


def sqlalchemy_url(conn: ConnectionInfo) -> str:
    """A SQLAlchemy URL from an Airflow-style connection (postgres or sqlite), or `extra.url`."""
    if conn.extra.get("url"):
        return str(conn.extra["url"])
    if conn.conn_type == "sqlite":
        if not conn.host:
            raise ValueError(f"connection {conn.conn_id!r}: a sqlite connection needs the database file as host")
        return f"sqlite:///{conn.host}"
    if conn.conn_type in ("postgres", "postgresql"):
        url = sa.URL.create(
            "postgresql+psycopg2",
            username=conn.login,
            password=conn.password,
            host=conn.host,
            port=conn.port,
            database=conn.schema,
        )
        return url.render_as_string(hide_password=False)
    raise ValueError(f"connection {conn.conn_id!r}: conn_type {conn.conn_type!r} is not sqlite or postgres")


def streams(conn: ConnectionInfo) -> list[Stream]:
    engine = sa.create_engine(sqlalchemy_url(conn), pool_pre_ping=True)
    page_size, lookback = conn.option("page_size", 5000, int), conn.lookback()
    db_schema = conn.extra.get("db_schema")
    return [
        PosTable(engine, contract_for("pos", "loyalty_members"), "updated_at", page_size, lookback, db_schema),
        PosTable(engine, contract_for("pos", "transactions"), "occurred_at", page_size, lookback, db_schema),
    ]
