"""The PostgreSQL destination against the machine's real server, each test in a schema of its own."""

from __future__ import annotations

import socket
import uuid
from contextlib import closing

import psycopg2
import pytest

from connectors.connection import ConnectionInfo
from connectors.destinations.base import BatchRefused, Change, DestinationError, Member, Mode, SyncRun
from connectors.destinations.postgres import PostgresDestination

pytestmark = pytest.mark.integration

SERVER = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
RUN = SyncRun(segment="vip_customers", destination="warehouse", mode=Mode.MIRROR, run_id="20261129T060000Z")
FAST_RETRIES = {"max_attempts": 3, "initial_wait_seconds": 0.01, "max_wait_seconds": 0.05}
ADA = Member(
    "c1",
    {"email": "ada@example.com"},
    {"name": "Ada", "orders": 12, "score": 1, "vip": True, "tags": ["early"], "last_order_on": None},
)
BOB = Member(
    "c2",
    {"phone": "+447700900123"},
    {"name": "Bob", "orders": 3, "score": 2.5, "vip": False, "tags": [], "last_order_on": None},
)


@pytest.fixture
def schema():
    """A schema no other test or worker uses, dropped afterwards."""
    name = f"dest_{uuid.uuid4().hex[:12]}"
    execute(f"CREATE SCHEMA {name}")
    yield name
    execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def open_destinations():
    opened: list[PostgresDestination] = []
    yield opened
    for dest in opened:
        dest.close()


@pytest.fixture
def connect(schema, open_destinations):
    def connect(port: int = SERVER["port"], **extra) -> PostgresDestination:
        conn = ConnectionInfo(
            "tessera_dest_warehouse",
            "postgres",
            host=SERVER["host"],
            port=port,
            login=SERVER["user"],
            schema=SERVER["dbname"],
            extra={"kind": "postgres", "table": f"{schema}.customers", **FAST_RETRIES, **extra},
        )
        dest = PostgresDestination(conn, RUN)
        open_destinations.append(dest)
        return dest

    return connect


def execute(sql: str, *params) -> None:
    with closing(psycopg2.connect(**SERVER)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql, params)


def query(sql: str, *params) -> list[tuple]:
    with closing(psycopg2.connect(**SERVER)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def columns(schema: str) -> dict[str, str]:
    return dict(
        query(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'customers' ORDER BY ordinal_position",
            schema,
        )
    )


def rows(schema: str, *names: str) -> list[tuple]:
    return query(f"SELECT customer_id, {', '.join(names)} FROM {schema}.customers ORDER BY customer_id")


def test_the_first_batch_creates_the_table_with_typed_columns(connect, schema):
    assert connect().send(Change.ADD, [ADA, BOB]).confirmed == ["c1", "c2"]
    assert columns(schema) == {
        "customer_id": "text",
        "identifiers": "jsonb",
        "_synced_at": "timestamp with time zone",
        "name": "text",
        "orders": "bigint",
        "score": "double precision",
        "vip": "boolean",
        "tags": "jsonb",
    }, "last_order_on has only been null: it waits for a value to type its column"
    assert query(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary",
        f"{schema}.customers",
    ) == [("customer_id",)]
    assert rows(schema, "name", "orders", "score", "vip", "tags", "identifiers") == [
        ("c1", "Ada", 12, 1.0, True, ["early"], {"email": "ada@example.com"}),
        ("c2", "Bob", 3, 2.5, False, [], {"phone": "+447700900123"}),
    ]


def test_an_update_upserts_by_key_and_repeating_a_batch_writes_nothing(connect, schema):
    dest = connect()
    dest.send(Change.ADD, [ADA, BOB])
    moved = Member("c2", {"email": "bob@example.com"}, {**BOB.fields, "orders": 4}, previous=BOB)
    assert dest.send(Change.UPDATE, [moved]).confirmed == ["c2"]
    assert rows(schema, "orders", "identifiers") == [
        ("c1", 12, {"email": "ada@example.com"}),
        ("c2", 4, {"email": "bob@example.com"}),
    ]
    before = rows(schema, "xmin::text", "_synced_at")
    assert dest.send(Change.UPDATE, [moved]).confirmed == ["c2"]
    assert connect().send(Change.ADD, [ADA]).confirmed == ["c1"]  # a later run re-sending a lost batch
    assert rows(schema, "xmin::text", "_synced_at") == before, "an unchanged row must not be rewritten"


def test_remove_deletes_the_keys_and_is_safe_to_repeat(connect, schema):
    dest = connect()
    dest.send(Change.ADD, [ADA, BOB])
    assert dest.send(Change.REMOVE, [BOB]).confirmed == ["c2"]
    assert dest.send(Change.REMOVE, [BOB]).confirmed == ["c2"]
    assert rows(schema, "name") == [("c1", "Ada")]


def test_a_new_field_adds_its_column_and_no_column_is_dropped(connect, schema):
    dest = connect()
    dest.send(Change.ADD, [ADA, BOB])
    later = Member("c1", ADA.identifiers, {"name": "Ada", "last_order_on": "2026-11-20", "region": {"code": "EU"}})
    dest.send(Change.UPDATE, [later])
    added = {name: kind for name, kind in columns(schema).items() if name in ("last_order_on", "region")}
    assert added == {"last_order_on": "text", "region": "jsonb"}
    assert {"orders", "score", "vip", "tags"} <= set(columns(schema))
    assert rows(schema, "orders", "last_order_on", "region") == [
        ("c1", 12, "2026-11-20", {"code": "EU"}),
        ("c2", 3, None, None),
    ]


def test_a_row_the_table_cannot_hold_refuses_the_batch_and_writes_none_of_it(connect, schema):
    """A table someone else made, with a narrow column: the engine splits the batch until the row is alone."""
    execute(f"CREATE TABLE {schema}.customers (customer_id text PRIMARY KEY, nickname varchar(5))")
    dest = connect()
    short = [Member("c1", {}, {"nickname": "Ada"}), Member("c3", {}, {"nickname": "Cy"})]
    long = Member("c2", {}, {"nickname": "Robert"})
    with pytest.raises(BatchRefused, match=r"customers\): upsert of 3 rows refused: value too long .*varying\(5\)"):
        dest.send(Change.ADD, [short[0], long, short[1]])
    assert rows(schema, "nickname") == []
    assert dest.send(Change.ADD, short).confirmed == ["c1", "c3"]
    with pytest.raises(BatchRefused, match="value too long"):
        dest.send(Change.ADD, [long])
    assert rows(schema, "nickname") == [("c1", "Ada"), ("c3", "Cy")]
    assert columns(schema)["nickname"] == "character varying"


def test_a_fraction_for_an_integer_column_is_refused_not_rounded(connect, schema):
    dest = connect()
    dest.send(Change.ADD, [Member("c1", {}, {"orders": 12})])
    assert dest.send(Change.ADD, [Member("c2", {}, {"orders": 3.0})]).confirmed == ["c2"]
    with pytest.raises(BatchRefused, match='invalid input syntax for type bigint: "2.5"'):
        dest.send(Change.ADD, [Member("c3", {}, {"orders": 2.5})])
    assert rows(schema, "orders") == [("c1", 12), ("c2", 3)]


def test_a_connection_the_server_dropped_between_batches_is_reopened(connect, schema):
    dest = connect()
    dest.send(Change.ADD, [Member("c1", {}, {"name": "Ada"})])
    execute("SELECT pg_terminate_backend(%s)", dest._conn.get_backend_pid())
    assert dest.send(Change.ADD, [Member("c2", {}, {"name": "Bob"})]).confirmed == ["c2"]
    assert dest.retried == 1
    assert rows(schema, "name") == [("c1", "Ada"), ("c2", "Bob")]


def test_an_unreachable_server_fails_after_the_retries(connect, schema):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = connect(port=port)
    message = rf"postgres tessera_dest_warehouse \(127\.0\.0\.1:{port}/test, table {schema}\.customers\): .*3 attempts"
    with pytest.raises(DestinationError, match=message):
        dest.send(Change.ADD, [ADA])
    assert dest.retried == 2


def test_fields_that_cannot_be_columns_are_invalid_before_sending(connect):
    dest = connect()
    assert dest.invalid(ADA) is None
    assert "not a usable column name" in dest.invalid(Member("c1", {}, {"first name": "Ada"}))
    assert "not a usable column name" in dest.invalid(Member("c1", {}, {"x" * 64: 1}))
    assert dest.invalid(Member("c1", {}, {"x" * 63: 1})) is None
    assert "the table's own column 'identifiers'" in dest.invalid(Member("c1", {}, {"identifiers": "x"}))
    assert "NUL character" in dest.invalid(Member("c1", {}, {"notes": ["fine", "not\x00fine"]}))


def test_a_connection_without_a_usable_table_is_refused_at_once():
    conn = ConnectionInfo("tessera_dest_warehouse", "postgres", host="127.0.0.1", schema="test", extra={})
    with pytest.raises(DestinationError, match="extra 'table' must be"):
        PostgresDestination(conn, RUN)
    with pytest.raises(DestinationError, match="extra 'table' must be .*got 'a.b-c'"):
        PostgresDestination(
            ConnectionInfo("tessera_dest_warehouse", "postgres", schema="test", extra={"table": "a.b-c"}), RUN
        )
