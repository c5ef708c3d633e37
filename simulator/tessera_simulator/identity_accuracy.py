"""How well identity resolution matches the simulator's ground truth: pairwise precision and recall, and
households merged into one customer.

Every pair of records in one predicted customer is a predicted match; every pair of records of one
true person is a true match. Records the pipeline left unattributed count as missed matches. A
browser shared by several people has no single true owner, so it is left out of both sides.

Households are the hardest false matches: their members share an address, often a surname and a
browser. `merged_households` counts the customers that hold two or more members of one household.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from tessera_simulator.pools import STORE_RECEIPT_EMAIL


@dataclass(frozen=True)
class PairwiseScores:
    precision: float
    recall: float
    predicted_pairs: int
    true_pairs: int
    correct_pairs: int
    customers: int
    largest_customer: int
    largest_person: int

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def summary(self) -> str:
        return (
            f"pairwise precision {self.precision:.4f}, recall {self.recall:.4f} (F1 {self.f1:.4f}); "
            f"{self.customers} customers, largest {self.largest_customer} records "
            f"(largest true person: {self.largest_person})"
        )


LINKABLE_SQL = """
    select 'crm' as source, 'contacts' as stream, contact_id as record_id from staging.stg_crm__contacts
    union all
    select 'email', 'subscribers', subscriber_id from staging.stg_email__subscribers
    union all
    select 'pos', 'loyalty_members', loyalty_id from staging.stg_pos__loyalty_members
    union all
    select 'pos', 'transactions', transaction_id from staging.stg_pos__transactions
    where loyalty_id is not null or {shopper_email} or phone_e164 is not null
        or payment_token in (
            select payment_token from staging.stg_pos__transactions
            where loyalty_id is not null or {shopper_email} or phone_e164 is not null
        )
    union all
    select distinct 'web', 'visitors', anonymous_id from staging.stg_web__events
    where user_id is not null or email_canonical is not null
"""


def linkable_records(warehouse_con) -> pa.Table:
    """Records that carry anything a person can be recognised by: every profile record, a transaction with a
    loyalty card, the shopper's receipt email or phone (or a card seen with one of those), a browser someone
    identified on. A cash sale with nothing on it, a receipt with only the store's default address on it, or
    anonymous browsing cannot be attributed by any method."""
    store_address = STORE_RECEIPT_EMAIL.format(town="%")
    shopper_email = f"coalesce(receipt_email_canonical not like '{store_address}', false)"
    return warehouse_con.sql(LINKABLE_SQL.format(shopper_email=shopper_email)).to_arrow_table()


def pairwise_scores(xref: pa.Table, truth: pa.Table, scope: pa.Table | None = None) -> PairwiseScores:
    """Score `customer_xref` rows (source, stream, record_id, customer_id) against the ground truth,
    optionally only over the records in `scope` (source, stream, record_id)."""
    import duckdb

    con = duckdb.connect()
    con.register("xref", xref)
    con.register("truth_unscoped", truth)
    if scope is not None:
        con.register("scope", scope)
        con.execute(
            "create temp view truth_all as select t.* from truth_unscoped t "
            "join (select distinct source, stream, record_id from scope) s using (source, stream, record_id)"
        )
    else:
        con.execute("create temp view truth_all as select * from truth_unscoped")
    row = con.execute(
        """
        with owners as (
            select source, stream, record_id, count(distinct person_id) as n
            from truth_all group by 1, 2, 3
        ),
        truth as (
            select t.source, t.stream, t.record_id, t.person_id
            from truth_all t join owners o using (source, stream, record_id)
            where o.n = 1
        ),
        predicted as (
            select x.source, x.stream, x.record_id, x.customer_id
            from xref x join truth t using (source, stream, record_id)
        ),
        joined as (
            select p.customer_id, t.person_id
            from predicted p join truth t using (source, stream, record_id)
        ),
        predicted_sizes as (select customer_id, count(*) as n from predicted group by 1),
        true_sizes as (select person_id, count(*) as n from truth group by 1),
        both_sizes as (select customer_id, person_id, count(*) as n from joined group by 1, 2)
        select
            (select coalesce(sum(n * (n - 1) / 2), 0) from predicted_sizes),
            (select coalesce(sum(n * (n - 1) / 2), 0) from true_sizes),
            (select coalesce(sum(n * (n - 1) / 2), 0) from both_sizes),
            (select count(*) from predicted_sizes),
            (select coalesce(max(n), 0) from predicted_sizes),
            (select coalesce(max(n), 0) from true_sizes)
        """
    ).fetchone()
    predicted, true, correct, customers, largest, largest_person = (int(v) for v in row)
    return PairwiseScores(
        precision=correct / predicted if predicted else 1.0,
        recall=correct / true if true else 1.0,
        predicted_pairs=predicted,
        true_pairs=true,
        correct_pairs=correct,
        customers=customers,
        largest_customer=largest,
        largest_person=largest_person,
    )


@dataclass(frozen=True)
class HouseholdMerges:
    """Predicted customers that hold records of two or more people of one household."""

    customers: int
    #: The most people of one household found in one customer (0 when none is merged).
    largest: int


def merged_households(xref: pa.Table, truth: pa.Table, households: pa.Table) -> HouseholdMerges:
    """Score `customer_xref` rows (source, stream, record_id, customer_id) against the ground truth and
    `households.parquet` (person_id, household_id). A shared browser belongs to no single person and so
    merges nobody; only records with one true owner count."""
    import duckdb

    con = duckdb.connect()
    con.register("xref", xref)
    con.register("truth", truth)
    con.register("households", households)
    row = con.execute(
        """
        with owned as (
            select source, stream, record_id, any_value(person_id) as person_id
            from truth group by 1, 2, 3 having count(distinct person_id) = 1
        ),
        together as (
            select x.customer_id, h.household_id, count(distinct o.person_id) as people
            from xref x
            join owned o using (source, stream, record_id)
            join households h using (person_id)
            group by 1, 2
            having count(distinct o.person_id) >= 2
        )
        select count(distinct customer_id), coalesce(max(people), 0) from together
        """
    ).fetchone()
    return HouseholdMerges(customers=int(row[0]), largest=int(row[1]))
