"""Daily incremental runs build the same warehouse as a full refresh of the same lake."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from tessera.dbt_runner import dbt_artifacts_dir, run_transform
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
    "intermediate.int_identity_edges__probabilistic": ["record_key", "identifier_value"],
    "intermediate.int_identity_resolution": ["record_key", "identifier_type", "identifier_value"],
    "marts.customer_xref": ["source", "record_id"],
    "marts.golden_customers": ["customer_id"],
    "marts.golden_customer_lineage": None,
    "marts.customer_merges": None,
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


def incremental_nodes(home: TesseraHome) -> set[str]:
    """The SQL models the last build ran on their incremental path (dbt's run results keep the SQL it ran)."""
    results = json.loads((dbt_artifacts_dir(home) / "target" / "run_results.json").read_text())
    return {
        r["unique_id"].split(".")[-1]
        for r in results["results"]
        if r["unique_id"].startswith("model.")
        and "_visible_at > (" in (r.get("compiled_code") or "")
        and "def model(" not in (r.get("compiled_code") or "")
    }


@pytest.mark.parametrize(
    ("world", "customers"),
    [("diverse", 600), ("regional", 1500)],  # regional: a dozen towns, common surnames, households
)
def test_daily_incremental_runs_equal_a_full_refresh(tmp_path, world, customers):
    home = TesseraHome(tmp_path)
    restitched_share = []
    with running_sources(home.simulator, customers=customers, seed=23, world=world) as sources:
        for day in simulated_days(sources, home, 3):
            run_transform(home)
            if day:
                assert {"stg_crm__contacts", "stg_web__events", "int_web_events_enriched"} <= incremental_nodes(home)
                log = (dbt_artifacts_dir(home) / "logs" / "dbt.log").read_text(encoding="utf-8", errors="replace")
                assert (
                    "matching: scored the pairs of new and changed profile records" in log.rsplit("Running with", 1)[-1]
                )
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
    # A day's changes touch part of the graph, not all of it.
    assert all(0 < share < 0.5 for share in restitched_share), restitched_share
