"""Consent end to end: every signal kept per customer and source, and golden_customers' consent is the
latest of them, an opt-out winning over every older opt-in whichever source gave it.

A small simulated world (80 people) is built after its initial load and again, incrementally, after a
daily batch; the history the incremental run left must be the one a rebuild from scratch gives.
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pytest

from tessera.dbt_runner import run_dbt
from tessera.home import TesseraHome
from tests.dbt.simulated_lake import land_simulated_lake

pytestmark = pytest.mark.integration

PRODUCTION_BUILD = ["build", "--exclude-resource-type", "unit_test"]
HISTORY_SQL = (
    "select customer_id, source, record_key, signal_key, signal, opted_in, signalled_at, is_current"
    " from intermediate.int_customer_consent_history order by customer_id, signal_key"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("consent")
    home = TesseraHome(root / "home")

    def build(day: int) -> None:
        run_dbt(PRODUCTION_BUILD, home)

    land_simulated_lake(home, root / "sim", customers=80, days=1, seed=5, after_day=build)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        incremental = con.execute(HISTORY_SQL).fetchall()
        golden = con.execute(
            "select customer_id, marketing_consent, marketing_consent_source, marketing_consent_at"
            " from marts.golden_customers order by customer_id"
        ).fetchall()
    run_dbt(["run", "--select", "int_customer_consent_history", "--full-refresh"], home)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rebuilt = con.execute(HISTORY_SQL).fetchall()
    return {"home": home, "history": incremental, "rebuilt": rebuilt, "golden": golden}


def _signals_by_customer(history: list[tuple]) -> dict[str, list[tuple]]:
    by_customer: dict[str, list[tuple]] = defaultdict(list)
    for row in history:
        by_customer[row[0]].append(row)
    return by_customer


def test_an_incremental_run_leaves_the_history_a_rebuild_gives(world):
    assert world["history"] == world["rebuilt"]
    assert len(world["history"]) > 80


def test_the_history_keeps_every_source_and_kind_of_signal(world):
    history = world["history"]
    assert {row[1] for row in history} == {"crm", "email"}
    assert {"marketing_opt_in", "subscription_status"} <= {row[4] for row in history}
    assert all(row[3].startswith(row[1] + ":") for row in history)


def test_each_customer_has_one_current_signal_and_golden_customers_shows_it(world):
    current = {}
    for customer, signals in _signals_by_customer(world["history"]).items():
        flagged = [row for row in signals if row[7]]
        assert len(flagged) == 1, customer
        _, source, _, _, _, opted_in, signalled_at, _ = flagged[0]
        current[customer] = (opted_in, source, signalled_at)
    golden = {customer: (consent, source, at) for customer, consent, source, at in world["golden"]}
    assert {customer: golden[customer] for customer in current} == current
    without_signal = {customer: state for customer, state in golden.items() if customer not in current}
    assert all(consent is False and source is None for consent, source, _ in without_signal.values())


def test_an_opt_out_from_any_source_wins_over_every_older_opt_in(world):
    """On the simulated data: a customer opted in has no opt-out at or after the opt-in that counts, and one
    opted out has no opt-in after the opt-out that counts; some customers' sources do disagree."""
    disagreeing = 0
    for customer, signals in _signals_by_customer(world["history"]).items():
        timed = [row for row in signals if row[6] is not None]
        (current,) = [row for row in signals if row[7]]
        if {row[5] for row in timed} == {True, False}:
            disagreeing += 1
        if current[5]:
            assert not [row for row in timed if not row[5] and row[6] >= current[6]], customer
        else:
            assert not [row for row in timed if row[5] and row[6] > current[6]], customer
    assert disagreeing >= 3


def test_the_consent_unit_tests_pass(world):
    result = run_dbt(
        ["test", "--select", "int_customer_consent_history,test_type:unit", "int_customer_consent,test_type:unit"],
        world["home"],
    )
    ran = {r.node.name: str(r.status) for r in result.result.results if r.node.resource_type == "unit_test"}
    assert ran == {
        "an_opt_out_from_any_source_wins_over_an_older_opt_in": "pass",
        "the_golden_consent_follows_the_latest_signal_across_sources": "pass",
        "the_latest_consent_signal_wins_and_a_tie_opts_out": "pass",
    }
