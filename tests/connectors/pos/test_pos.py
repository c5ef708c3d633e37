"""The POS connector against real databases: the simulator's SQLite file and the machine's PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa

from tests.lake_reader import column, landed
from tests.sources import extract_all, running_sources, throwaway_postgres_database

pytestmark = pytest.mark.integration


def _db_count(url: str, table: str, before: datetime, column_name: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        t = sa.Table(table, sa.MetaData(), autoload_with=engine)
        query = sa.select(sa.func.count()).where(t.c[column_name] < before.replace(tzinfo=None))
        count = conn.execute(query).scalar_one()
    engine.dispose()
    return count


def _run_days(sources, home, days=3):
    sim = sources.sim
    extract_all(sources, "pos", home, None, sim.clock)
    for _ in range(days):
        start = sim.clock
        sim.advance(days=1)
        extract_all(sources, "pos", home, start, sim.clock)


def _assert_complete(sources, home):
    clock = sources.sim.clock
    tx = landed(home.lake, "pos", "transactions")
    ids = Counter(column(tx, "transaction_id"))
    assert max(ids.values()) == 1, "a transaction landed twice"
    # Every transaction in the database, late till uploads included, is in the lake.
    assert len(ids) == _db_count(sources.pos_url, "transactions", clock, "occurred_at")
    assert tx.schema.field("total_amount").type == pa.decimal128(18, 2)
    assert tx.schema.field("item_count").type == pa.int64()
    assert all(isinstance(a, Decimal) for a in column(tx, "total_amount") if a is not None)
    members = landed(home.lake, "pos", "loyalty_members")
    assert len(set(column(members, "loyalty_id"))) == _db_count(sources.pos_url, "loyalty_members", clock, "updated_at")


def test_sqlite_pos_lands_every_row_once_across_days(sources, home):
    _run_days(sources, home)
    _assert_complete(sources, home)


def test_postgres_pos_lands_every_row_once_across_days(tmp_path, home):
    with throwaway_postgres_database() as url, running_sources(tmp_path / "sim", pos_url=url) as pg_sources:
        assert pg_sources.pos_url.startswith("postgresql")
        _run_days(pg_sources, home)
        _assert_complete(pg_sources, home)


def test_a_late_till_upload_within_the_lookback_is_picked_up(sources, home):
    sim = sources.sim
    extract_all(sources, "pos", home, None, sim.clock)
    late_at = (sim.clock - timedelta(hours=2)).replace(tzinfo=None)
    engine = sa.create_engine(sources.pos_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into transactions (transaction_id, store_id, total_amount, currency, item_count, occurred_at)"
                " values ('T-LATE', 'S1', 12.50, 'EUR', 2, :ts), ('T-BAD', 'S1', '12,50', 'EUR', 1, :ts)"
            ),
            {"ts": late_at},
        )
    engine.dispose()
    result = extract_all(sources, "pos", home, sim.clock, sim.clock + timedelta(days=1))["transactions"]
    assert (result.rows, result.quarantined) == (1, 1)
    tx = landed(home.lake, "pos", "transactions")
    late = [r for r in tx.to_pylist() if r["transaction_id"] == "T-LATE"]
    assert late == [late[0]] and late[0]["total_amount"] == Decimal("12.50")
    assert late[0]["occurred_at"] == late_at.replace(tzinfo=UTC)
    q = landed(home.lake, "pos", "transactions", zone="quarantine")
    assert column(q, "_record_id") == ["T-BAD"]
    assert column(q, "_reason") == ["total_amount is not a decimal number: '12,50'"]
