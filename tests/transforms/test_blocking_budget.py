"""The comparison budget of the blocking rules (transforms/identity/matching/blocking_budget.py).

A regional retailer's records crowd into a few towns under a few surnames: the rules that block
on a town or postcode and a surname prefix would compare a town's records with each other. The
budget must tighten or skip exactly those, say so, count what Splink would compare (checked
against a plain SQL self-join and against Splink's own exact count), and leave diverse data alone.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from splink import DuckDBAPI
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.blocking import BlockingRule

from tessera.resources import nicknames_path
from transforms.identity.matching import (
    BLOCKING_RULES,
    DEFAULT_MAX_COMPARISONS_PER_RECORD,
    RECORD_COLUMNS,
    plan_blocking,
    read_nicknames,
)
from transforms.identity.matching.blocking_budget import TIGHTENINGS, count_comparisons
from transforms.identity.matching.records import load_records

pytestmark = pytest.mark.unit

CITY_SURNAME = "l.city = r.city and left(l.last_name, 2) = left(r.last_name, 2)"
POSTCODE_SURNAME = "l.postcode = r.postcode and left(l.last_name, 2) = left(r.last_name, 2)"

FIRST_NAMES = (
    "james robert john michael david william richard thomas mary elizabeth patricia jennifer linda susan "
    "margaret sarah karen nancy lisa emily bob liz jim mike dave bill rick tom peggy sue chris anna "
    "peter paul george edward helen ruth joan alice grace frank"
).split()
#: Ten surnames, as a Zipf law draws them: a third of the town are Smiths or Joneses (and a few Thomas Thomases).
SURNAMES = "smith jones taylor brown williams wilson johnson davies robinson thomas".split()
#: Most customers live in the first town; each town has two postcodes and a few streets.
TOWNS = {"millbrook": ("12001", "12002"), "ashford": ("23001", "23002"), "kelso": ("34001", "34002")}
TOWN_WEIGHTS = (0.72, 0.18, 0.10)
STREETS = "high street|station road|church lane|mill road|park avenue|the green|school lane|main street".split("|")
DATASETS = ("crm_contacts", "pos_loyalty_members")


def zipf_weights(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1)
    return weights / weights.sum()


def person_records(people: list[dict], seed: int) -> pa.Table:
    """Each person as a CRM contact, and half of them again as a loyalty member, with the slips a till makes
    (a missing email, phone or birth date, first and last name swapped)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, person in enumerate(people):
        rows.append({"record_key": f"crm:contacts:{i}", "source_dataset": DATASETS[0], **person})
        if rng.random() < 0.5:
            copy = dict(person)
            for column in ("email", "phone"):
                if rng.random() < 0.4:
                    copy[column] = None
            if rng.random() < 0.15:
                copy["birth_date"] = None
            if rng.random() < 0.05:
                copy["first_name"], copy["last_name"] = person["last_name"], person["first_name"]
            rows.append({"record_key": f"pos:loyalty_members:{i}", "source_dataset": DATASETS[1], **copy})
    types = {"varchar": pa.string(), "date": pa.date32()}
    schema = pa.schema([(c, types[t]) for c, t in RECORD_COLUMNS.items()])
    return pa.Table.from_pylist(rows, schema=schema)


def skewed_people(n: int, seed: int = 7) -> list[dict]:
    """`n` people in three towns under ten surnames."""
    rng = np.random.default_rng(seed)
    towns = list(TOWNS)
    people = []
    for i in range(n):
        town = towns[rng.choice(len(towns), p=TOWN_WEIGHTS)]
        first = FIRST_NAMES[rng.choice(len(FIRST_NAMES), p=zipf_weights(len(FIRST_NAMES)))]
        last = SURNAMES[rng.choice(len(SURNAMES), p=zipf_weights(len(SURNAMES)))]
        people.append(
            {
                "first_name": first,
                "last_name": last,
                "birth_date": date(1940, 1, 1) + timedelta(days=int(rng.integers(0, 23_000))),
                "street": f"{int(rng.integers(1, 150))} {STREETS[int(rng.integers(0, len(STREETS)))]}",
                "postcode": TOWNS[town][int(rng.integers(0, 2))],
                "city": town,
                "email": f"{first}.{last}{i}@example.com",
                "phone": f"+44770090{i:04d}",
            }
        )
    return people


def diverse_people(n: int, seed: int = 11) -> list[dict]:
    """`n` people over hundreds of towns and surnames: nothing crowds."""
    rng = np.random.default_rng(seed)
    syllables = "ka lo mer din sta vel cor ban tri hol pra wen gus fel mar ros tel qui ada bre".split()
    surnames = sorted({"".join(rng.choice(syllables, 3)) for _ in range(600)})
    people = []
    for i in range(n):
        town = int(rng.integers(0, 500))
        first = FIRST_NAMES[int(rng.integers(0, len(FIRST_NAMES)))]
        last = surnames[int(rng.integers(0, len(surnames)))]
        people.append(
            {
                "first_name": first,
                "last_name": last,
                "birth_date": date(1940, 1, 1) + timedelta(days=int(rng.integers(0, 23_000))),
                "street": f"{int(rng.integers(1, 150))} {STREETS[int(rng.integers(0, len(STREETS)))]}",
                "postcode": f"{10_000 + town * 7 + int(rng.integers(0, 3)):05d}",
                "city": f"town{town}",
                "email": f"{first}.{last}{i}@example.com",
                "phone": f"+44770090{i:04d}",
            }
        )
    return people


@pytest.fixture(scope="module")
def nicknames() -> list[tuple[str, str]]:
    return read_nicknames(nicknames_path())


@pytest.fixture
def cursor():
    con = duckdb.connect()
    yield con.cursor()
    con.close()


@pytest.fixture
def skewed(cursor, nicknames) -> list[tuple[str, str]]:
    tables = load_records(cursor, person_records(skewed_people(2_000), seed=1), nicknames)
    assert [dataset for _, dataset in tables] == list(DATASETS)
    return tables


def self_join_count(cur: duckdb.DuckDBPyConnection, rule: str, *, link_only: bool = False) -> int:
    """The pairs a rule makes, made: every record against every other, each pair once."""
    across = "and l.source_dataset <> r.source_dataset" if link_only else ""
    sql = f"""
        select count(*) from matching_records as l join matching_records as r
        on ({rule}) and l.record_key < r.record_key {across}
    """
    return cur.execute(sql).fetchall()[0][0]


def test_skewed_towns_tighten_the_town_and_postcode_rules(cursor, skewed, caplog):
    caplog.set_level(logging.INFO, logger="transforms.identity.matching.blocking_budget")
    plan = plan_blocking(cursor, skewed, BLOCKING_RULES, link_type="link_and_dedupe")

    records = cursor.execute("select count(*) from matching_records").fetchall()[0][0]
    assert plan.records == records
    assert plan.budget == DEFAULT_MAX_COMPARISONS_PER_RECORD * records
    by_rule = {d.rule: d for d in plan.decisions}
    assert [d.rule for d in plan.decisions] == list(BLOCKING_RULES)

    # The town rule, counted by hand: the records of each town with the same two first letters of surname.
    town = by_rule[CITY_SURNAME]
    by_hand = cursor.execute(
        """
        select count(*) from matching_records as l join matching_records as r
        on l.city = r.city and left(l.last_name, 2) = left(r.last_name, 2) and l.record_key < r.record_key
        """
    ).fetchall()[0][0]
    assert town.comparisons == by_hand > 4 * plan.budget

    for rule in (CITY_SURNAME, POSTCODE_SURNAME):
        decision = by_rule[rule]
        assert decision.comparisons > plan.budget
        # The birth year comes first, and splits a town's surname block some seventy ways.
        assert decision.action == "tightened"
        assert decision.scored_rule == f"({rule}) and year(l.birth_date) = year(r.birth_date)"
        assert decision.scored_comparisons == self_join_count(cursor, decision.scored_rule) <= plan.budget
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and rule in r.getMessage()]
        assert len(warnings) == 1
        assert f"{decision.comparisons:,} comparisons" in warnings[0]
        assert f"budget of {plan.budget:,}" in warnings[0]
        assert "tightened to" in warnings[0]

    for decision in plan.decisions:
        assert decision.scored_comparisons <= plan.budget
        assert (decision.action == "kept") == (decision.comparisons <= plan.budget)
    # Splink scores the tightened forms in place of the town rules, and every other rule as it is.
    assert CITY_SURNAME not in plan.rules and by_rule[CITY_SURNAME].scored_rule in plan.rules
    assert by_rule["l.email = r.email"].action == by_rule["l.phone = r.phone"].action == "kept"

    # One INFO block carries every rule's count; the plan serialises for the build log and the benchmark.
    (block,) = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    for decision in plan.decisions:
        assert f"{decision.comparisons:,}" in block and (decision.scored_rule or decision.rule) in block
    as_json = json.loads(json.dumps(plan.to_dict()))
    assert as_json["budget"] == plan.budget and as_json["records"] == records
    assert [row["action"] for row in as_json["rules"]] == [d.action for d in plan.decisions]
    assert as_json["rules"][BLOCKING_RULES.index(CITY_SURNAME)]["scored_rule"] == by_rule[CITY_SURNAME].scored_rule


def test_a_rule_no_tightening_fits_is_skipped(cursor, skewed, caplog):
    caplog.set_level(logging.WARNING, logger="transforms.identity.matching.blocking_budget")
    plan = plan_blocking(
        cursor, skewed, (CITY_SURNAME, "l.email = r.email"), link_type="link_and_dedupe", max_comparisons_per_record=1
    )

    town, email = plan.decisions
    assert town.action == "skipped" and town.scored_rule is None and town.scored_comparisons == 0
    # Every tightening that reads neither the city nor the last name was tried, in order, and left too many.
    assert [part.split(" leaves ")[0] for part in town.reason.removeprefix("no tightening fits: ").split("; ")] == [
        "birth year",
        "first-name initial",
        "house number",
        "postcode",
    ]
    assert email.action == "kept"
    assert plan.rules == ["l.email = r.email"]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert CITY_SURNAME in warning and f"{town.comparisons:,}" in warning and "skipped" in warning


def test_diverse_records_keep_every_rule(cursor, nicknames, caplog):
    caplog.set_level(logging.WARNING, logger="transforms.identity.matching.blocking_budget")
    tables = load_records(cursor, person_records(diverse_people(2_000), seed=2), nicknames)

    plan = plan_blocking(cursor, tables, BLOCKING_RULES, link_type="link_and_dedupe")

    assert [d.action for d in plan.decisions] == ["kept"] * len(BLOCKING_RULES)
    assert plan.rules == list(BLOCKING_RULES)
    assert max(d.comparisons for d in plan.decisions) <= plan.budget / 10
    assert caplog.records == []
    assert self_join_count(cursor, CITY_SURNAME) == plan.decisions[BLOCKING_RULES.index(CITY_SURNAME)].comparisons


@pytest.mark.parametrize("link_type", ["link_and_dedupe", "link_only", "dedupe_only"])
def test_counts_equal_splinks_exact_count(cursor, nicknames, link_type):
    people = skewed_people(600, seed=3)
    for i in (0, 1):  # two Thomas Thomases: the swap rule pairs each with himself, and Splink does not count that
        people[i] = {**people[i], "first_name": "thomas", "last_name": "thomas"}
    records = person_records(people, seed=4)
    if link_type == "dedupe_only":  # one dataset: every record, the till's copies too, in the CRM
        column = records.schema.get_field_index("source_dataset")
        records = records.set_column(column, "source_dataset", pa.array([DATASETS[0]] * records.num_rows))
    tables = load_records(cursor, records, nicknames)
    assert len(tables) == (1 if link_type == "dedupe_only" else 2)
    db_api = DuckDBAPI(connection=cursor)
    inputs = [db_api.register(table, dataset_display_name=dataset) for table, dataset in tables]
    tightened = f"({CITY_SURNAME}) and year(l.birth_date) = year(r.birth_date)"

    counted = []
    for rule in (*BLOCKING_RULES, tightened):
        (splink,) = count_comparisons_from_blocking_rules(
            inputs if len(inputs) > 1 else inputs[0],
            blocking_rules=rule,
            link_type=link_type,
            unique_id_column_name="record_key",
            record_sample_proportion=1.0,
        )
        ours = count_comparisons(cursor, tables, rule, link_type=link_type)
        assert ours == splink["marginal_comparison_count"], rule
        counted.append(ours)
    assert min(counted) > 0  # the swapped names too: each rule finds pairs here
    assert count_comparisons(cursor, tables, CITY_SURNAME, link_type=link_type) == self_join_count(
        cursor, CITY_SURNAME, link_only=link_type == "link_only"
    )


def test_a_tightened_rule_is_one_splink_joins_on():
    """The added condition must be an equality Splink hashes the join on, not a filter after a town-sized join."""
    for rule in BLOCKING_RULES:
        for tightening in TIGHTENINGS:
            parsed = BlockingRule(f"({rule}) and {tightening.condition}", "duckdb")
            assert parsed._filter_conditions == "TRUE"
            assert len(parsed._equi_join_conditions) == len(BlockingRule(rule, "duckdb")._equi_join_conditions) + 1
