"""A comparison budget for the blocking rules: skewed data must not make matching cost the square of its size.

A blocking rule compares every pair of records that agree on its keys. Where the records spread
over many values (towns, surnames) that is a few pairs per record; where most customers live in a
dozen towns and share a few surnames, a rule such as "same city and same two first letters of the
last name" compares a town's worth of records with each other, and its pairs grow with the square
of the town. `plan_blocking` counts the pairs each rule would generate, on the very records Splink
is about to score, before any pair is built, and holds every rule to a budget proportional to the
number of records: a rule over budget is tightened with one more equality condition, or skipped.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Literal

import duckdb
import sqlglot
from sqlglot import exp

log = logging.getLogger(__name__)

LinkType = Literal["link_only", "link_and_dedupe", "dedupe_only"]
Action = Literal["kept", "tightened", "skipped"]

#: Pairs one blocking rule may generate per record scored. The shipped rules stay far below it where
#: records spread: at most 0.5 per record on FEBRL 4 and on the simulator's default world (1,000
#: customers), 2.0 at 100,000 customers, where a rule's pairs per record grow with the people sharing
#: a town or a name, so some 20 are to be expected at the benchmark's 1,000,000. Skew is another
#: order: 3,000 records in three towns give the city and surname rule 177 pairs per record. All 14
#: rules at the budget would compare at most 420 pairs per record.
DEFAULT_MAX_COMPARISONS_PER_RECORD = 30


@dataclass(frozen=True)
class Tightening:
    """One equality condition a rule over budget may be narrowed with."""

    name: str
    condition: str
    #: Columns whose comparison in a rule already decides this condition (or crosses it, as the rule
    #: that matches a first name against a last name does): the condition is not tried on such a rule.
    reads: frozenset[str]


#: Tried in this order, and the first one that brings the rule within budget is kept. The order puts
#: first what a person's own records most reliably share, so tightening drops the fewest true pairs:
#: the birth year is the same in every system (a retyped or swapped day and month keep it) and spreads
#: over some seventy even values, independent of place and name; the initial of the nickname group
#: survives `bob`/`robert` and any typo after the first letter; the last name's first three letters
#: survive later typos but not a change of name; house number and postcode change when a person moves,
#: and a town's few postcodes split its records least.
TIGHTENINGS: tuple[Tightening, ...] = (
    Tightening("birth year", "year(l.birth_date) = year(r.birth_date)", frozenset({"birth_date"})),
    Tightening(
        "first-name initial",
        "left(l.first_name_group, 1) = left(r.first_name_group, 1)",
        frozenset({"first_name", "first_name_group", "first_name_aliases"}),
    ),
    Tightening("last-name prefix", "left(l.last_name, 3) = left(r.last_name, 3)", frozenset({"last_name"})),
    Tightening("house number", "l.street_number = r.street_number", frozenset({"street", "street_number"})),
    Tightening("postcode", "l.postcode = r.postcode", frozenset({"postcode"})),
)


@dataclass(frozen=True)
class RuleDecision:
    """What the budget did with one blocking rule, and why."""

    rule: str
    comparisons: int
    action: Action
    #: The rule Splink scores with: `rule`, its tightened form, or None when skipped.
    scored_rule: str | None
    scored_comparisons: int
    reason: str


@dataclass(frozen=True)
class BlockingPlan:
    """The blocking rules to score with, held to `max_comparisons_per_record` comparisons per record each."""

    records: int
    max_comparisons_per_record: int
    decisions: tuple[RuleDecision, ...]

    @property
    def budget(self) -> int:
        """The most comparisons any one rule may generate on these records."""
        return self.max_comparisons_per_record * self.records

    @property
    def rules(self) -> list[str]:
        """The rules Splink scores with, in the configured order (kept and tightened ones).

        Empty only if every rule is skipped; Splink reads no rules as "compare every pair", so
        the caller must then compare nothing.
        """
        return [d.scored_rule for d in self.decisions if d.scored_rule is not None]

    @property
    def comparisons(self) -> int:
        """Comparisons of the scored rules together: an upper bound, as rules overlap and Splink scores a pair once."""
        return sum(d.scored_comparisons for d in self.decisions)

    def to_rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per rule, in the configured order."""
        return [asdict(d) for d in self.decisions]

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "max_comparisons_per_record": self.max_comparisons_per_record,
            "budget": self.budget,
            "comparisons": self.comparisons,
            "rules": self.to_rows(),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> BlockingPlan:
        """The plan `to_dict()` wrote (as the scores' metadata carries it)."""
        return cls(
            records=int(doc["records"]),
            max_comparisons_per_record=doc["max_comparisons_per_record"],
            decisions=tuple(RuleDecision(**row) for row in doc["rules"]),
        )

    def describe(self) -> str:
        """A readable block: the budget, then per rule its action, its count and the rule scored."""
        lines = [
            f"blocking budget: {self.records:,} records x {self.max_comparisons_per_record:,} = "
            f"{self.budget:,} comparisons per rule; scored rules generate at most {self.comparisons:,}"
        ]
        for d in self.decisions:
            counts = f"{d.comparisons:,}" if d.action == "kept" else f"{d.comparisons:,} -> {d.scored_comparisons:,}"
            lines.append(f"  {d.action:<9} {counts:>28}  {d.scored_rule or d.rule}")
        return "\n".join(lines)


def plan_blocking(
    cur: duckdb.DuckDBPyConnection,
    tables: list[tuple[str, str]],
    rules: tuple[str, ...] | list[str],
    *,
    link_type: LinkType,
    max_comparisons_per_record: int = DEFAULT_MAX_COMPARISONS_PER_RECORD,
) -> BlockingPlan:
    """Count each rule's comparisons on the prepared `tables` (`records.load_records`) and hold it to the budget.

    Counts are taken before Splink builds a single pair: one group-by per side of the rule's
    equality conditions, as Splink's own pre-filter count does (`splink.internals.blocking_analysis`).
    They are exact for rules made only of equalities (all the shipped ones); conditions Splink
    applies after the join (`<>`, `like`, ...) are not counted, so such a rule counts as its equalities.
    """
    if link_type not in ("link_only", "link_and_dedupe", "dedupe_only"):
        raise ValueError(f"link_type must be link_only, link_and_dedupe or dedupe_only, got {link_type!r}")
    if max_comparisons_per_record < 1:
        raise ValueError(f"max_comparisons_per_record must be at least 1, got {max_comparisons_per_record!r}")
    n_records = sum(cur.execute(f"select count(*) from {table}").fetchall()[0][0] for table, _ in tables)
    budget = max_comparisons_per_record * n_records
    decisions = tuple(_decide(cur, tables, rule, link_type, budget) for rule in rules)
    plan = BlockingPlan(n_records, max_comparisons_per_record, decisions)
    for d in plan.decisions:
        if d.action != "kept":
            log.warning(
                "blocking rule %s: %s comparisons, over the budget of %s (%s per record x %s records): %s; %s",
                d.rule,
                f"{d.comparisons:,}",
                f"{budget:,}",
                max_comparisons_per_record,
                f"{n_records:,}",
                d.action if d.scored_rule is None else f"{d.action} to {d.scored_rule}",
                d.reason,
            )
    log.info("%s", plan.describe())
    return plan


def count_comparisons(
    cur: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]], rule: str, *, link_type: LinkType
) -> int:
    """The pairs `rule` makes Splink compare among the records of `tables`, counted without making them.

    A block of n records that agree on the rule's keys holds n(n-1)/2 pairs: Splink compares a pair
    once. Linking only, the pairs within one table are left out.
    """
    from splink.internals.blocking import BlockingRule

    keys = BlockingRule(rule, "duckdb")._equi_join_conditions  # the equalities Splink joins on
    if not tables:
        return 0
    if all(left == right for left, right in keys):
        return _count_same_keys(cur, tables, [left for left, _ in keys], link_type)
    return _count_crossed_keys(cur, tables, keys, link_type)


def _keyed_records_sql(tables: list[tuple[str, str]], expressions: list[str]) -> str:
    """Every record's key values (`expressions`, named in order) and the number of its table (`dataset`)."""
    return " union all ".join(
        f"select {', '.join([*expressions, f'{d} as dataset'])} from {table}" for d, (table, _) in enumerate(tables)
    )


def _count_same_keys(
    cur: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]], keys: list[str], link_type: LinkType
) -> int:
    """A rule that compares each key with itself (`l.city = r.city`): one group-by."""
    names = [f"k{i}" for i in range(len(keys))]
    keyed = _keyed_records_sql(tables, [f"{key} as {name}" for key, name in zip(keys, names, strict=True)])
    not_null = " and ".join(f"{name} is not null" for name in names) or "true"
    all_pairs, pairs_across = cur.execute(
        f"""
        with keyed as ({keyed}),
        blocks as (select {", ".join([*names, "dataset"])}, count(*) as n from keyed where {not_null} group by all),
        per_key as (select {", ".join([*names, "sum(n) as total", "sum(n * n) as within"])} from blocks group by all)
        select coalesce(sum(total * total - total), 0), coalesce(sum(total * total - within), 0) from per_key
        """
    ).fetchall()[0]
    return int(pairs_across if link_type == "link_only" else all_pairs) // 2


def _count_crossed_keys(
    cur: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]], keys: list[tuple[str, str]], link_type: LinkType
) -> int:
    """A rule that compares one key with another (`l.first_name = r.last_name`): a group-by per side, as
    Splink's own pre-filter count does, n_l x n_r ordered pairs per block less each record paired with itself."""
    expressions = [f"{left} as l{i}, {right} as r{i}" for i, (left, right) in enumerate(keys)]

    def blocks(side: str) -> str:
        columns = [f"{side}{i} as k{i}" for i in range(len(keys))]
        not_null = " and ".join(f"{side}{i} is not null" for i in range(len(keys)))
        return f"select {', '.join([*columns, 'dataset'])}, count(*) as n from keyed where {not_null} group by all"

    same_block = " and ".join(f"l.k{i} = r.k{i}" for i in range(len(keys)))
    with_itself = " and ".join(f"l{i} = r{i}" for i in range(len(keys)))
    ordered, ordered_within, itself = cur.execute(
        f"""
        with keyed as ({_keyed_records_sql(tables, expressions)}),
        left_blocks as ({blocks("l")}),
        right_blocks as ({blocks("r")})
        select
            coalesce(sum(l.n * r.n), 0),
            coalesce(sum(l.n * r.n) filter (where l.dataset = r.dataset), 0),
            (select count(*) from keyed where {with_itself})
        from left_blocks as l
        join right_blocks as r on {same_block}
        """
    ).fetchall()[0]
    return int(ordered - (ordered_within if link_type == "link_only" else itself)) // 2


def _decide(
    cur: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]], rule: str, link_type: LinkType, budget: int
) -> RuleDecision:
    count = count_comparisons(cur, tables, rule, link_type=link_type)
    if count <= budget:
        return RuleDecision(rule, count, "kept", rule, count, "within budget")
    tried = []
    compared = _columns(rule)
    for tightening in TIGHTENINGS:
        if tightening.reads & compared:
            continue
        narrower = f"({rule}) and {tightening.condition}"  # the parentheses keep a rule with `or` whole
        narrower_count = count_comparisons(cur, tables, narrower, link_type=link_type)
        if narrower_count <= budget:
            tried.append(f"{tightening.name} fits with {narrower_count:,}")
            return RuleDecision(rule, count, "tightened", narrower, narrower_count, "; ".join(tried))
        tried.append(f"{tightening.name} leaves {narrower_count:,}")
    return RuleDecision(rule, count, "skipped", None, 0, "no tightening fits: " + "; ".join(tried or ["none applies"]))


def _columns(rule: str) -> frozenset[str]:
    """The columns a rule compares."""
    return frozenset(c.name for c in sqlglot.parse_one(rule, read="duckdb").find_all(exp.Column))
