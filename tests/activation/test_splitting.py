"""A batch refused whole for one row it does not name: the engine halves it until the row is alone, sends
the rest, records the row with the destination's own error and sends it again once it can go in."""

from __future__ import annotations

import uuid
from contextlib import closing

import psycopg2
import pytest

from connectors.connection import ConnectionInfo
from tessera.activation.activations import parse_activation
from tessera.activation.engine import sync
from tessera.activation.state import open_state
from tests.activation.published import World, people, publish

pytestmark = pytest.mark.integration

SERVER = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
ACTIVATION = parse_activation(
    "lapsed_vips", 1, {"destination": "warehouse_copy", "mode": "mirror", "fields": {"first_name": "first_name"}}
)


def execute(sql: str) -> list[tuple]:
    with closing(psycopg2.connect(**SERVER)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def table():
    """A table someone made before us, whose first_name column takes at most 8 characters."""
    schema = f"split_{uuid.uuid4().hex[:12]}"
    execute(f"create schema {schema}")
    execute(f"create table {schema}.members (customer_id text primary key, first_name varchar(8))")
    yield f"{schema}.members"
    execute(f"drop schema {schema} cascade")


def test_one_bad_row_is_isolated_and_the_rest_goes_in(home, table):
    customers = people(40)
    keys = list(customers)
    customers[keys[17]] = customers[keys[17]].but(first_name="Maximiliane")  # 11 characters
    world = World(customers=customers, segments={"lapsed_vips": [{"customer_id": k} for k in keys]})
    publish(home, world)
    conn = ConnectionInfo(
        "tessera_dest_warehouse_copy", "postgres", host=SERVER["host"], port=SERVER["port"], login=SERVER["user"],
        schema=SERVER["dbname"], extra={"kind": "postgres", "table": table, "max_attempts": 1},
    )  # fmt: skip

    result = sync(home, ACTIVATION, conn)

    assert (result.status, result.added, result.rejected) == ("success", 39, 1)
    (rejected_key, error), *_ = result.samples["rejected"]
    assert rejected_key == keys[17] and "too long" in error
    assert {key for (key,) in execute(f"select customer_id from {table}")} == set(keys) - {keys[17]}

    execute(f"alter table {table} alter column first_name type varchar(20)")  # the table's owner widens it
    again = sync(home, ACTIVATION, conn)

    assert (again.added, again.rejected) == (1, 0)  # the refused row, and only it, went again
    assert len(execute(f"select customer_id from {table}")) == 40
    with open_state(home, "lapsed_vips", "warehouse_copy") as con:
        assert con.execute("select count(*) from rejections").fetchone()[0] == 0
