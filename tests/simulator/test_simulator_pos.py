"""The POS database on sqlite and on a real PostgreSQL: schema, bulk writes, identical data."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.simulator.conftest import make_sim
from tests.simulator.snapshots import pos_rows


def _schema(url: str) -> dict[str, object]:
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {
            table: {
                "columns": {c["name"]: (type(c["type"]).__name__, c["nullable"]) for c in inspector.get_columns(table)},
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted(tuple(i["column_names"]) for i in inspector.get_indexes(table)),
            }
            for table in ("loyalty_members", "transactions")
        }
    finally:
        engine.dispose()


def _check_schema(schema: dict) -> None:
    loyalty, tx = schema["loyalty_members"], schema["transactions"]
    assert loyalty["pk"] == ["loyalty_id"] and tx["pk"] == ["transaction_id"]
    assert ("updated_at", "loyalty_id") in loyalty["indexes"]
    assert ("occurred_at", "transaction_id") in tx["indexes"]
    assert loyalty["columns"]["updated_at"][1] is False and tx["columns"]["occurred_at"][1] is False
    assert tx["columns"]["loyalty_id"][1] is True
    assert list(tx["columns"]) == [
        "transaction_id",
        "store_id",
        "loyalty_id",
        "payment_token",
        "receipt_email",
        "phone",
        "total_amount",
        "currency",
        "item_count",
        "occurred_at",
    ]


@pytest.mark.unit
def test_the_default_pos_is_a_sqlite_file_with_the_documented_schema(tmp_path):
    sim = make_sim(tmp_path / "sim", customers=300)
    sim.initialize()
    sim.advance(1)
    assert sim.pos_url.startswith("sqlite:///") and (tmp_path / "sim" / "pos.sqlite").is_file()
    _check_schema(_schema(sim.pos_url))
    rows = pos_rows(sim.pos_url, "transactions")
    assert rows and all(r[-1].tzinfo is None for r in rows), "timestamps must be naive UTC"


@pytest.mark.integration
def test_pos_on_postgresql_holds_exactly_what_the_sqlite_pos_holds(tmp_path, throwaway_postgres):
    on_pg = make_sim(tmp_path / "pg", customers=300, pos_url=throwaway_postgres)
    on_sqlite = make_sim(tmp_path / "sqlite", customers=300)
    for sim in (on_pg, on_sqlite):
        sim.initialize()
        sim.advance(2)
    schema = _schema(throwaway_postgres)
    _check_schema(schema)
    assert schema["transactions"]["columns"]["occurred_at"][0] == "TIMESTAMP"
    assert schema["transactions"]["columns"]["total_amount"][0] == "NUMERIC"
    for table in ("loyalty_members", "transactions"):
        pg_rows, sqlite_rows = pos_rows(throwaway_postgres, table), pos_rows(on_sqlite.pos_url, table)
        assert pg_rows and pg_rows == sqlite_rows, table
    # a fresh simulator directory pointed at the same database starts it over, like a fresh sqlite one
    again, fresh = (
        make_sim(tmp_path / name, customers=300, pos_url=url)
        for name, url in (("pg-again", throwaway_postgres), ("sqlite-fresh", None))
    )
    again.initialize()
    fresh.initialize()
    assert pos_rows(throwaway_postgres, "transactions") == pos_rows(fresh.pos_url, "transactions")
