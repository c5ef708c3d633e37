"""Identity resolution on a world the matcher was never trained or tuned on: a regional shop's customers.

Most of them live in a dozen towns and share the country's common surnames; three in ten live in a
household that shares an address, usually a surname and a web device; many pay by card without a loyalty
card, or with one only sometimes. The seed is not the training seed, and the shape is not the training
world's. Built the way a user builds: extracted by the connectors, `tessera transform`, nothing trained.
"""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest
from tessera_simulator.identity_accuracy import linkable_records, merged_households, pairwise_scores

from tessera.dbt_runner import dbt_log_path
from tessera.home import TesseraHome
from tests.sources import running_sources, simulated_days

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a 4,000-person world over three days, built


@pytest.fixture(scope="module")
def regional(tmp_path_factory) -> TesseraHome:
    from tessera.dbt_runner import run_transform

    home = TesseraHome(tmp_path_factory.mktemp("regional"))
    with running_sources(home.simulator, customers=4000, seed=23, world="regional") as sources:
        for _ in simulated_days(sources, home, 3):
            pass
    run_transform(home)
    return home


def test_precision_recall_and_no_household_merged(regional):
    with duckdb.connect(str(regional.warehouse), read_only=True) as con:
        xref = con.sql("select * from marts.customer_xref").to_arrow_table()
        linkable = linkable_records(con)
    truth = pq.read_table(regional.simulator / "ground_truth.parquet")
    households = pq.read_table(regional.simulator / "households.parquet")
    scores = pairwise_scores(xref, truth, scope=linkable)
    merges = merged_households(xref, truth, households)
    print("regional world, linkable records:", scores.summary(), merges)
    assert scores.precision >= 0.995
    assert scores.recall >= 0.97
    assert merges.customers == 0, f"{merges.customers} customers hold two people of one household"


def test_a_card_seen_with_a_loyalty_card_attributes_its_other_receipts(regional):
    """A card one person uses at the till, sometimes with a loyalty card and sometimes without."""
    with duckdb.connect(str(regional.warehouse), read_only=True) as con:
        known, attributed = con.execute(
            """
            with carded as (
                select distinct payment_token from staging.stg_pos__transactions
                where payment_token is not null and loyalty_id is not null
            ),
            bare as (
                select t.transaction_id from staging.stg_pos__transactions as t
                inner join carded using (payment_token)
                where t.loyalty_id is null
            )
            select
                count(*),
                count(*) filter (where exists (
                    select 1 from marts.customer_xref as x
                    where x.stream = 'transactions' and x.record_id = bare.transaction_id
                ))
            from bare
            """
        ).fetchall()[0]
    assert known > 100
    assert attributed / known >= 0.99, f"{known - attributed} of {known} card-only receipts unattributed"


def test_the_matcher_was_fitted_to_this_world_and_the_blocking_plan_logged(regional):
    from transforms.identity.matching import FittedModels

    (fit,) = FittedModels(regional.root / "matcher").history()
    assert fit["reasons"] == ["first build"]
    log = dbt_log_path(regional).read_text(encoding="utf-8", errors="replace")
    assert "blocking budget:" in log and "comparisons per rule" in log
