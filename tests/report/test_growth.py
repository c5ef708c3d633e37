"""Customers after each build, counted from the append-only customer-id history alone."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from tessera.report import gather

pytestmark = pytest.mark.unit

B1, B2, B3 = (datetime(2026, 1, day, 6) for day in (1, 2, 3))


@pytest.fixture
def con():
    """Build 1 gives r1, r2 id A and r3 id B; build 2 merges B into A and brings r4 as C; build 3 releases
    r4 (it lost its identifiers) and splits r2 off A as D."""
    con = duckdb.connect()
    con.execute("create schema intermediate; create schema marts")
    con.execute(
        "create table intermediate.int_customer_id_history (record_key varchar, customer_id varchar, assigned_at timestamp)"
    )
    con.executemany(
        "insert into intermediate.int_customer_id_history values (?, ?, ?)",
        [
            ("r1", "A", B1), ("r2", "A", B1), ("r3", "B", B1),
            ("r3", "A", B2), ("r4", "C", B2),
            ("r4", None, B3), ("r2", "D", B3),
        ],
    )  # fmt: skip
    con.execute("create table marts.golden_customers as select * from (values ('A'), ('D')) t(customer_id)")
    con.execute(
        "create table marts.customer_merges as select * from (values ('B', 'A', 'merge'), ('A', 'D', 'split')) "
        "t(old_customer_id, new_customer_id, reason)"
    )
    yield con
    con.close()


def test_customers_after_each_build_follow_merges_releases_and_splits(con):
    growth = gather.golden_growth(con)

    assert [(p.built_at, p.customers, p.new_ids, p.retired_ids) for p in growth.points] == [
        (B1.replace(tzinfo=UTC), 2, 2, 0),  # A, B
        (B2.replace(tzinfo=UTC), 2, 1, 1),  # A, C: B merged into A
        (B3.replace(tzinfo=UTC), 2, 1, 1),  # A, D: C released
    ]
    assert growth.golden_rows == growth.points[-1].customers == 2
    assert growth.merges == {"merge": 1, "split": 1}
    assert growth.earlier_builds == 0


def test_only_the_newest_builds_are_shown_and_the_first_shown_still_counts_its_retired_ids(con, monkeypatch):
    monkeypatch.setattr(gather, "GROWTH_BUILDS", 2)

    growth = gather.golden_growth(con)

    assert [(p.customers, p.new_ids, p.retired_ids) for p in growth.points] == [(2, 1, 1), (2, 1, 1)]
    assert growth.earlier_builds == 1


def test_a_warehouse_without_the_history_says_so():
    con = duckdb.connect()
    assert isinstance(gather.golden_growth(con), gather.Missing)
    con.close()
