"""How well identity resolution matches the simulator's ground truth: pairwise precision and recall.

Every pair of records in one predicted customer is a predicted match; every pair of records of one
true person is a true match. Records the pipeline left unattributed count as missed matches. A
browser shared by several people has no single true owner, so it is left out of both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


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


def pairwise_scores(xref: pa.Table, truth: pa.Table) -> PairwiseScores:
    """Score `customer_xref` rows (source, stream, record_id, customer_id) against the ground truth."""
    import duckdb

    con = duckdb.connect()
    con.register("xref", xref)
    con.register("truth_all", truth)
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
