"""The gates on a real build: a small simulated world's batches pass their suites, its marts pass theirs,
and a copy of the warehouse with an over-merged customer or an orphan cross-reference fails critically."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from typer.testing import CliRunner

from connectors.lake import CHECKED, batch_state, read_marker
from tessera.checks import CheckFailed, check_marts, check_pending, held_batches, raise_on_critical
from tessera.cli import app
from tessera.dbt_runner import run_dbt
from tessera.home import TesseraHome
from tests.dbt.simulated_lake import land_simulated_lake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> TesseraHome:
    """300 simulated people, an initial load and two daily batches, checked and then built by dbt."""
    home = TesseraHome(tmp_path_factory.mktemp("marts"))
    land_simulated_lake(home, home.root / "sim", customers=300, days=2)
    check_pending(home)  # whatever the landing left unchecked
    run_dbt(["build"], home)
    return home


@pytest.fixture
def damaged(built, tmp_path):
    """A copy of the built warehouse to break, in a home of its own."""
    home = TesseraHome(tmp_path / "copy")
    home.root.mkdir()
    shutil.copy(built.warehouse, home.warehouse)
    con = duckdb.connect(str(home.warehouse))
    first = con.execute("select min(customer_id) from marts.golden_customers").fetchall()[0][0]
    yield home, con, first
    con.close()


def test_simulated_batches_pass_their_suites(built):
    """The simulated sources' deliberate mess (placeholders, stray spaces, odd phone formats) warns at most."""
    landed = sorted(built.lake.glob("raw/*/*/batch_id=*"))
    assert len(landed) == 16
    assert {str(p): batch_state(p) for p in landed} == {str(p): "checked" for p in landed}
    assert [read_marker(p, CHECKED)["suite"] for p in landed] == [
        f"{p.parent.parent.name}.{p.parent.name}" for p in landed
    ]
    assert held_batches(built) == []


def test_the_built_marts_pass(built):
    results = check_marts(built)

    segments = ["engaged_no_purchase", "high_value_at_risk", "lapsed_vips", "new_loyalty_members", "one_time_buyers"]
    marts = ["marts.golden_customers", "marts.customer_xref", *(f"segments.{name}" for name in segments)]
    assert [r.suite for r in results] == marts
    assert all(r.passed and r.critical == [] for r in results), [r.message() for r in results]
    con = duckdb.connect(str(built.warehouse), read_only=True)
    counts = [con.execute(f"select count(*) from {mart}").fetchall()[0][0] for mart in marts]
    con.close()
    assert [r.rows for r in results] == counts
    raise_on_critical(results)


def test_an_over_merged_customer_fails_the_golden_suite(damaged):
    home, con, first = damaged
    con.execute(
        "insert into marts.customer_xref (source, stream, record_id, customer_id) "
        "select 'crm', 'contacts', 'merged-' || i, ? from range(60) as r(i)",
        [first],
    )
    con.close()

    golden, xref, *_ = check_marts(home)

    assert xref.passed
    (failure,) = golden.critical
    assert (failure.expectation_type, failure.column, failure.expected) == (
        "expect_column_values_to_be_between",
        "profile_records",
        "values at most 50",
    )
    assert len(failure.sample_values) == 1 and failure.sample_values[0].startswith(f"customer_id={first}: 6")
    with pytest.raises(CheckFailed, match="marts.golden_customers failed: 1 critical failure"):
        raise_on_critical([golden, xref])


def test_an_orphan_cross_reference_fails_the_xref_suite(damaged):
    home, con, _ = damaged
    con.execute("insert into marts.customer_xref values ('crm', 'contacts', 'orphan-1', 'cus_0000000000000000')")
    con.close()

    golden, xref, *_ = check_marts(home)

    assert golden.passed
    (failure,) = xref.critical
    assert (failure.expectation_type, failure.column) == ("expect_column_values_to_be_in_set", "customer_exists")
    assert failure.sample_values == (
        "source=crm, stream=contacts, record_id=orphan-1, customer_id=cus_0000000000000000: false",
    )


def test_tessera_check_marts_exits_1_naming_the_failure(damaged, monkeypatch):
    home, con, _ = damaged
    con.execute("insert into marts.customer_xref values ('web', 'visitors', 'orphan-2', 'cus_0000000000000000')")
    con.close()
    monkeypatch.setenv("TESSERA_HOME", str(home.root))

    result = CliRunner().invoke(app, ["check", "--marts"])

    assert result.exit_code == 1, result.output
    assert "marts.customer_xref: FAILED" in result.output
    assert (
        "marts.customer_xref: expect_column_values_to_be_in_set on customer_exists (critical): expected values in "
        "{true}; observed 1 of "
    ) in result.output
    assert "record_id=orphan-2, customer_id=cus_0000000000000000" in result.output


def test_a_segment_with_a_member_twice_or_not_a_customer_fails_its_suite(damaged):
    home, con, first = damaged
    con.execute("insert into segments.lapsed_vips (customer_id) values (?), ('cus_not_a_customer')", [first])
    con.execute("insert into segments.lapsed_vips (customer_id) values (?)", [first])
    con.execute("create table segments.brand_new as select customer_id from marts.golden_customers limit 3")
    con.close()

    results = {r.suite: r for r in check_marts(home)}

    failed = results["segments.lapsed_vips"]
    assert not failed.passed
    assert {(f.expectation_type, f.column) for f in failed.critical} == {
        ("expect_column_values_to_be_unique", "customer_id"),
        ("expect_column_values_to_be_in_set", "customer_exists"),
    }
    assert results["segments.brand_new"].passed  # a segment without a suite of its own gets the default one
