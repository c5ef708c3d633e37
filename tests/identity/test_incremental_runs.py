"""Daily incremental runs build the same warehouse as a full refresh of the same lake."""

from __future__ import annotations

import json
import re

import duckdb
import pandas as pd
import pytest

from tessera.dbt_runner import dbt_artifacts_dir, dbt_log_path, run_dbt, run_transform
from tessera.home import TesseraHome
from tests.sources import running_sources, simulated_days

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Every table a daily run changes, with its key; `decided_at` says when, so it is left out.
TABLES = {
    "staging.stg_crm__contacts": ["contact_id"],
    "staging.stg_email__subscribers": ["subscriber_id"],
    "staging.stg_email__events": ["event_id"],
    "staging.stg_pos__loyalty_members": ["loyalty_id"],
    "staging.stg_pos__transactions": ["transaction_id"],
    "staging.stg_web__events": ["message_id"],
    "intermediate.int_web_events_enriched": ["message_id"],
    "intermediate.int_identity_edges": ["record_key", "identifier_type", "identifier_value"],
    "intermediate.int_identity_edges__probabilistic": ["record_key", "identifier_value"],
    "intermediate.int_identity_resolution": ["record_key", "identifier_type", "identifier_value"],
    "intermediate.int_customer_activity": None,
    "intermediate.int_customer_consent": ["customer_id"],
    "intermediate.int_customer_traits": ["customer_id"],
    "marts.customer_xref": ["source", "record_id"],
    "marts.golden_customers": ["customer_id"],
    "marts.golden_customer_lineage": None,
    "marts.customer_merges": None,
}

#: The identity edges of each source, rebuilt for the records landed since the last run.
EDGE_MODELS = {
    "int_identity_edges__crm_contacts",
    "int_identity_edges__email_subscribers",
    "int_identity_edges__pos_loyalty_members",
    "int_identity_edges__pos_transactions",
    "int_identity_edges__web_visitors",
}

#: The models downstream of stitching that rebuild only the customers a run changed (int_customer_changes).
CUSTOMER_MODELS = {
    "int_customer_activity",
    "int_customer_attribute_candidates",
    "int_customer_consent",
    "int_customer_traits",
    "golden_customer_lineage",
    "golden_customers",
    "customer_xref",
}


def snapshot(home: TesseraHome) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        frames = {}
        for name, key in TABLES.items():
            df = con.sql(
                f"select * exclude (decided_at) from {name}" if "resolution" in name else f"select * from {name}"
            ).df()
            order = key or list(df.columns)
            frames[name] = df.sort_values(order, key=lambda c: c.astype(str)).reset_index(drop=True)
    return frames


#: What the compiled SQL of a model holds on its incremental path: staging reads what landed since the last
#: run; the customer models read the customers changed since then.
INCREMENTAL_MARKS = ("_visible_at > (", "changes.rebuilt_all")


def incremental_nodes(home: TesseraHome) -> set[str]:
    """The SQL models the last build ran on their incremental path (dbt's run results keep the SQL it ran)."""
    results = json.loads((dbt_artifacts_dir(home) / "target" / "run_results.json").read_text())
    return {
        r["unique_id"].split(".")[-1]
        for r in results["results"]
        if r["unique_id"].startswith("model.")
        and any(mark in (r.get("compiled_code") or "") for mark in INCREMENTAL_MARKS)
        and "def model(" not in (r.get("compiled_code") or "")
    }


def compiled_tests(home: TesseraHome) -> dict[str, str]:
    """The SQL each data test of the last build ran, by test name."""
    results = json.loads((dbt_artifacts_dir(home) / "target" / "run_results.json").read_text())
    return {
        r["unique_id"].split(".")[2]: r.get("compiled_code") or ""
        for r in results["results"]
        if r["unique_id"].startswith("test.")
    }


def last_run_log(home: TesseraHome) -> str:
    log = dbt_log_path(home).read_text(encoding="utf-8", errors="replace")
    return log.rsplit("Running with", 1)[-1]


@pytest.mark.parametrize(
    ("world", "customers", "interrupted"),
    # regional: a dozen towns, common surnames, households; diverse: the first daily build stops before the
    # golden rows, so the next run must rebuild that day's customers too.
    [("diverse", 600, True), ("regional", 1500, False)],
)
def test_daily_incremental_runs_equal_a_full_refresh(tmp_path, world, customers, interrupted):
    home = TesseraHome(tmp_path)
    restitched_share, rebuilt_customers = [], []
    with running_sources(home.simulator, customers=customers, seed=23, world=world) as sources:
        for day in simulated_days(sources, home, 3):
            if day == 1 and interrupted:
                run_dbt(["build", "--exclude", "golden_customers+"], home)
            run_transform(home)
            if day:
                on_incremental_path = {"stg_crm__contacts", "stg_web__events", "int_web_events_enriched"}
                on_incremental_path |= {"int_profile_records"} | EDGE_MODELS | CUSTOMER_MODELS
                assert on_incremental_path <= incremental_nodes(home)
                log = last_run_log(home)
                assert "matching: scored the pairs of new and changed profile records" in log
                assert re.search(r"stitching: re-stitched [\d,]+ of [\d,]+ records", log)
                # Tests on the customer models check the customers the run rebuilt, tests on staging its new rows.
                tests = compiled_tests(home)
                assert "changes.rebuilt_all" in tests["unique_golden_customers_customer_id"]
                assert "changes.rebuilt_all" in tests["not_null_int_customer_activity_customer_id"]
                assert "changes.rebuilt_all" not in tests["not_null_customer_merges_old_customer_id"]
                assert "changes.rebuilt_all" not in tests["unique_stg_crm__contacts_contact_id"]
                assert "_visible_at > coalesce(" in tests["unique_stg_crm__contacts_contact_id"]
                rebuilt = re.search(r"customer models: rebuilding (\d+) customers changed", log)
                assert rebuilt, "the customer models did not say which customers they rebuild"
                with duckdb.connect(str(home.warehouse), read_only=True) as con:
                    customers = con.execute("select count(*) from marts.golden_customers").fetchone()[0]
                rebuilt_customers.append(int(rebuilt.group(1)) / customers)
                with duckdb.connect(str(home.warehouse), read_only=True) as con:
                    restitched_share.append(
                        con.execute(
                            """select avg(case when decided_at = (select max(decided_at)
                                   from intermediate.int_identity_resolution) then 1.0 else 0 end)
                               from intermediate.int_identity_resolution"""
                        ).fetchall()[0][0]
                    )
    incremental = snapshot(home)

    run_transform(home, full_refresh=True)
    assert not incremental_nodes(home)
    full = snapshot(home)

    for name in TABLES:
        assert len(incremental[name]) > 0 or name == "marts.customer_merges", name
        pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False, obj=name)
    # A day's changes touch part of the graph and part of the customers, not all of them.
    assert all(0 < share < 0.5 for share in restitched_share), restitched_share
    assert all(0 < share < 0.5 for share in rebuilt_customers), rebuilt_customers
