"""Identity resolution on simulated data, scored against the simulator's ground truth."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest
from tessera_simulator.identity_accuracy import linkable_records, pairwise_scores

pytestmark = pytest.mark.integration


def _warehouse(home):
    return duckdb.connect(str(home.warehouse), read_only=True)


def test_pairwise_precision_and_cluster_sizes_against_ground_truth(unified):
    with _warehouse(unified) as con:
        xref = con.sql("select * from marts.customer_xref").to_arrow_table()
        linkable = linkable_records(con)
    truth = pq.read_table(unified.simulator / "ground_truth.parquet")
    scores = pairwise_scores(xref, truth)
    print("all records:", scores.summary())
    assert scores.precision >= 0.99
    assert scores.largest_customer <= scores.largest_person
    assert scores.recall >= 0.5
    # Recall over the records a person can be recognised by at all (not cash sales or anonymous browsing).
    within_reach = pairwise_scores(xref, truth, scope=linkable)
    print("linkable records:", within_reach.summary())
    assert within_reach.precision >= 0.99 and within_reach.recall >= 0.97


def test_marts_have_one_row_per_customer_and_every_customer_has_records(unified):
    with _warehouse(unified) as con:
        customers, distinct = con.execute(
            "select count(*), count(distinct customer_id) from marts.golden_customers"
        ).fetchone()
        orphans = con.execute(
            """select count(*) from marts.golden_customers g
               where not exists (select 1 from marts.customer_xref x where x.customer_id = g.customer_id)"""
        ).fetchone()[0]
        lineage_gaps = con.execute(
            """select count(*) from marts.golden_customers g
               where g.email is not null and not exists (
                 select 1 from marts.golden_customer_lineage l
                 where l.customer_id = g.customer_id and l.attribute = 'email' and l.value = g.email)"""
        ).fetchone()[0]
    assert customers == distinct > 1000
    assert orphans == 0
    assert lineage_gaps == 0


def test_a_store_default_receipt_email_never_joins_shoppers(unified):
    with _warehouse(unified) as con:
        decisions = con.execute(
            """select distinct decision from intermediate.int_identity_resolution
               where identifier_type = 'email' and identifier_value like 'receipts@%'"""
        ).fetchall()
        joined = con.execute(
            """select count(*) from intermediate.int_identity_resolution
               where identifier_value like 'receipts@%' and decision = 'stitched'
               group by customer_key having count(distinct record_key) > 1"""
        ).fetchall()
    assert ("shared",) in decisions, "a store's receipt address on many shoppers' receipts must be seen as shared"
    assert not joined, "no receipt address may stitch several records together"


def test_consent_follows_the_latest_explicit_signal(unified):
    with _warehouse(unified) as con:
        wrong = con.execute(
            """
            with unsubscribed as (
                select x.customer_id, max(e.occurred_at) as at
                from staging.stg_email__events e
                join marts.customer_xref x on x.stream = 'subscribers' and x.record_id = e.subscriber_id
                where e.event_type in ('unsubscribe', 'spam_complaint')
                group by 1
            )
            select count(*) from unsubscribed u join marts.golden_customers g using (customer_id)
            where g.marketing_consent and g.marketing_consent_at <= u.at
            """
        ).fetchone()[0]
    assert wrong == 0
