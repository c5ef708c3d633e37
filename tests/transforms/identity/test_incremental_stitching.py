"""Incremental stitching gives what stitching the whole graph gives, and touches only what changed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
import pytest

from transforms.identity.incremental_stitching import REMOVED, restitch, stitch_all
from transforms.identity.stitching import IdentifierRule, RuleBook, stitch

RULES = RuleBook(
    {
        "crm_contact_id": IdentifierRule("crm_contact_id", 1, max_per_customer=1),
        "email": IdentifierRule("email", 2, max_per_customer=2),
        "phone": IdentifierRule("phone", 3),
        "record": IdentifierRule("record", 9),
    }
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY2 = T0 + timedelta(days=1)


def edge(record, kind, value, decision="stitched", observed=T0, probability=None, reason=None):
    rule = RULES.by_type[kind]
    return {
        "record_key": record,
        "source": record.split(":")[0],
        "stream": record.split(":")[1],
        "record_id": record.split(":")[2],
        "identifier_type": kind,
        "identifier_value": value,
        "entity_key": record,
        "observed_at": observed,
        "match_probability": probability,
        "match_detail": None,
        "rule_priority": rule.priority,
        "rule_max_per_customer": rule.max_per_customer,
        "decision": decision,
        "reason": reason,
    }


def random_graph(rng: random.Random, records: int = 80) -> list[dict]:
    edges = []
    for i in range(records):
        key = f"crm:contacts:{i:03d}"
        if rng.random() < 0.5:
            edges.append(edge(key, "crm_contact_id", f"c{rng.randrange(records)}"))
        for _ in range(rng.randrange(3)):
            edges.append(edge(key, "email", f"e{rng.randrange(records // 2)}"))
        if rng.random() < 0.4:
            edges.append(edge(key, "phone", f"p{rng.randrange(records // 2)}"))
        if rng.random() < 0.1:
            other = f"crm:contacts:{rng.randrange(records):03d}"
            if other > key:
                edges.append(edge(key, "record", other, probability=0.97))
    return _screen(_unique(edges))


def _unique(edges: list[dict]) -> list[dict]:
    seen: dict[tuple, dict] = {}
    for e in edges:
        seen.setdefault((e["record_key"], e["identifier_type"], e["identifier_value"]), e)
    return list(seen.values())


def _screen(edges: list[dict], shared=frozenset()) -> list[dict]:
    """Screening's part, by hand: the listed values are shared."""
    for e in edges:
        if e["identifier_value"] in shared:
            e["decision"], e["reason"] = "shared", f"{e['identifier_value']} is shared"
        else:
            e["decision"], e["reason"] = "stitched", None
    return edges


def mutate(rng: random.Random, edges: list[dict], records: int = 80) -> list[dict]:
    """A day of changes: some edges go, some come, some records vanish, some payloads change."""
    edges = [dict(e) for e in edges if rng.random() > 0.03]
    gone = {f"crm:contacts:{rng.randrange(records):03d}" for _ in range(2)}
    edges = [e for e in edges if e["record_key"] not in gone]
    for i in range(records, records + 4):
        key = f"crm:contacts:{i:03d}"
        edges.append(edge(key, "email", f"e{rng.randrange(records // 2)}"))
    for _ in range(3):
        key = f"crm:contacts:{rng.randrange(records):03d}"
        edges.append(edge(key, "phone", f"p{rng.randrange(records // 2)}"))
    for e in edges:
        if rng.random() < 0.05:
            e["observed_at"] = e["observed_at"] + timedelta(days=1)
    shared = {f"e{rng.randrange(records // 2)}"}
    return _screen(_unique(edges), shared)


def upsert(con, table: str, rows) -> None:
    """What dbt's delete+insert and the model's post-hook do with the restitched rows."""
    con.register("delta", rows)
    con.execute(f"delete from {table} where record_key in (select record_key from delta)")
    con.execute(f"insert into {table} by name select * from delta")
    con.execute(f"delete from {table} where decision = '{REMOVED}'")
    con.unregister("delta")


def table(con, name: str) -> pd.DataFrame:
    """The rows in a fixed order, without the time each was decided."""
    df = con.sql(f"select * exclude (decided_at) from {name}").df()
    return df.sort_values(["record_key", "identifier_type", "identifier_value"]).reset_index(drop=True)


def run(con, day1: list[dict], day2: list[dict]):
    con.execute("drop table if exists stitched")
    con.register("day1", stitch(pd.DataFrame(day1), RULES).assign(decided_at=T0))
    con.execute("create table stitched as select * from day1")
    con.register("day2", pd.DataFrame(day2))
    result = restitch(con, "day2", "stitched", RULES, DAY2)
    upsert(con, "stitched", result.rows)
    return result


@pytest.mark.parametrize("seed", range(12))
def test_upserting_the_restitched_rows_equals_stitching_everything(seed):
    rng = random.Random(seed)
    day1 = random_graph(rng)
    day2 = mutate(rng, day1)
    with duckdb.connect() as con:
        result = run(con, day1, day2)
        incremental = table(con, "stitched")
        con.register("everything", stitch(pd.DataFrame(day2), RULES).assign(decided_at=DAY2))
        full = table(con, "everything")
    pd.testing.assert_frame_equal(incremental, full, check_dtype=False)
    assert result.records_total == full["record_key"].nunique()


def test_a_change_restitches_only_its_components():
    # Two customers, far apart; the second gains a phone. Only its records are rewritten.
    day1 = _screen(
        [
            edge("crm:contacts:a1", "email", "ann@x"),
            edge("esp:subscribers:a2", "email", "ann@x"),
            edge("crm:contacts:b1", "email", "bob@x"),
            edge("pos:loyalty_members:b2", "email", "bob@x"),
        ]
    )
    day2 = [dict(e) for e in day1] + [edge("pos:loyalty_members:b2", "phone", "+44")]
    with duckdb.connect() as con:
        result = run(con, day1, day2)
        rewritten = set(result.rows.column("record_key").to_pylist())
        assert rewritten == {"crm:contacts:b1", "pos:loyalty_members:b2"}
        decided = dict(con.execute("select record_key, max(decided_at) from stitched group by 1").fetchall())
        assert decided == {"crm:contacts:a1": T0, "esp:subscribers:a2": T0,
                           "crm:contacts:b1": DAY2, "pos:loyalty_members:b2": DAY2}  # fmt: skip
        assert (result.records_restitched, result.records_refreshed, result.records_removed) == (2, 0, 0)
        # Nothing changed since: nothing to write.
        again = restitch(con, "day2", "stitched", RULES, DAY2)
        assert again.rows.num_rows == 0


def test_a_limit_refusal_keeps_its_raw_component_together():
    # c1 and c2 hold two emails each and share a third: the third is refused (max 2), so two customers
    # come out of one raw component. A change on c2 must re-stitch c1 too: order decides who gets it.
    day1 = _screen(
        [
            edge("crm:contacts:c1", "email", "a@x"),
            edge("crm:contacts:c1", "email", "b@x"),
            edge("crm:contacts:c2", "email", "c@x"),
            edge("crm:contacts:c2", "email", "b@x"),
            edge("crm:contacts:c3", "email", "c@x"),
        ]
    )
    day2 = [e for e in day1 if not (e["record_key"] == "crm:contacts:c1" and e["identifier_value"] == "a@x")]
    with duckdb.connect() as con:
        result = run(con, day1, day2)
        assert {"crm:contacts:c1", "crm:contacts:c2"} <= set(result.rows.column("record_key").to_pylist())
        con.register("everything", stitch(pd.DataFrame(day2), RULES).assign(decided_at=DAY2))
        pd.testing.assert_frame_equal(table(con, "stitched"), table(con, "everything"), check_dtype=False)


def test_a_record_without_edges_is_removed_and_a_payload_change_only_refreshes():
    day1 = _screen([edge("crm:contacts:a", "email", "a@x"), edge("crm:contacts:z", "email", "z@x")])
    day2 = [edge("crm:contacts:z", "email", "z@x", observed=T0 + timedelta(days=1))]
    with duckdb.connect() as con:
        result = run(con, day1, day2)
        assert result.records_removed == 1 and result.records_refreshed == 1
        # The refreshed record keeps the time its decision was made.
        assert con.execute("select record_key, observed_at, decided_at from stitched").fetchall() == [
            ("crm:contacts:z", T0 + timedelta(days=1), T0)
        ]


SCREENED_COLUMNS = """
    record_key varchar, source varchar, stream varchar, record_id varchar, identifier_type varchar,
    identifier_value varchar, entity_key varchar, observed_at timestamptz, match_probability double,
    match_detail varchar, rule_priority integer, rule_max_per_customer integer, decision varchar, reason varchar
"""


def _renamed(edges: list[dict]) -> list[dict]:
    """The edges with record keys whose byte order is not their number's order (no zero padding, upper and
    lower case, a non-ASCII letter), so that numbering records in the warehouse must follow the strings."""

    def rename(key: str) -> str:
        number = int(key.rsplit(":", 1)[1])
        return f"crm:contacts:{'aBé'[number % 3]}{number}"

    return [
        {
            **e,
            "record_key": rename(e["record_key"]),
            "entity_key": rename(e["entity_key"]),
            "identifier_value": rename(e["identifier_value"])
            if e["identifier_type"] == "record"
            else e["identifier_value"],
        }
        for e in edges
    ]


@pytest.mark.parametrize(("seed", "probability"), [(7, 0.97), (11, 0.97), (23, 0.995), (42, 0.995)])
def test_a_full_build_stitches_the_warehouse_edges_into_arrow_of_the_warehouse_types(seed, probability):
    """`stitch_all` returns a relation that stores with the screened table's types, even for columns that hold
    only NULLs (match details here), and decides as `stitch` does on a frame: the same customers (named by
    the smallest record key) and the same edges refused for a limit, with weak match edges and with strong
    ones (copies of one person, whose identifiers count once against the limits)."""
    day1 = _renamed(random_graph(random.Random(seed)))
    for e in day1:
        if e["identifier_type"] == "record":
            e["match_probability"] = probability
    with duckdb.connect() as con:
        con.execute(f"create table screened ({SCREENED_COLUMNS})")
        con.register("day1", pd.DataFrame(day1))
        con.execute("insert into screened by name select * from day1")
        stitch_all(con, "screened", RULES, T0).create("stitched")
        types = dict(
            con.execute("select column_name, data_type from duckdb_columns() where table_name = 'stitched'").fetchall()
        )
        screened = dict(
            con.execute("select column_name, data_type from duckdb_columns() where table_name = 'screened'").fetchall()
        )
        assert types == {**screened, "customer_key": "VARCHAR", "decided_at": "TIMESTAMP WITH TIME ZONE"}
        assert con.execute("select distinct decided_at from stitched").fetchall() == [(T0,)]
        stitched = table(con, "stitched")
    expected = stitch(pd.DataFrame(day1), RULES)
    expected = expected.sort_values(["record_key", "identifier_type", "identifier_value"]).reset_index(drop=True)
    columns = ["record_key", "identifier_type", "identifier_value", "decision", "reason", "customer_key"]
    pd.testing.assert_frame_equal(stitched[columns], expected[columns], check_dtype=False)
    assert "over_limit" in set(stitched["decision"])
    assert stitched["customer_key"].nunique() > 10


def test_a_full_build_of_a_graph_without_edges_stores_no_rows():
    with duckdb.connect() as con:
        con.execute(f"create table screened ({SCREENED_COLUMNS})")
        stitch_all(con, "screened", RULES, T0).create("stitched")
        assert con.execute("select count(*) from stitched").fetchall() == [(0,)]
