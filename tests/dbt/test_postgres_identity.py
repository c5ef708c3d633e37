"""Stitching in SQL (PostgreSQL) decides every edge as the Python version does (transforms/identity/stitching.py).

A seeded generator builds households whose members share phones, cards and laptops and whose records carry
several emails and duplicate CRM contacts, so that many components break a `max_per_customer` limit and are
rebuilt edge by edge; a store email on many receipts (shared), a blocklisted placeholder, record-to-record
match edges and keys whose order depends on the collation are in it too. The edges go into a throwaway
PostgreSQL database with text columns under an English (ICU) collation, as on a server whose default is
not byte order; dbt builds the SQL model from them, and its output must equal `stitch()` on the same edges.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pandas as pd
import psycopg2
import psycopg2.extras
import pytest
import sqlalchemy as sa

from tessera.dbt_runner import run_dbt
from tessera.home import TesseraHome
from tests.dbt.postgres_target import connect, postgres_target
from tests.sources import throwaway_postgres_database
from transforms.identity.stitching import rules_from_rows, stitch

pytestmark = pytest.mark.integration

KEY = ["record_key", "identifier_type", "identifier_value"]
TEXT_COLUMNS = ["record_key", "source", "stream", "record_id", "identifier_type", "identifier_value", "entity_key"]


def household_edges(seed: int, households: int = 80) -> pd.DataFrame:
    """Identity edges of simulated households, messy enough to exercise every rule."""
    rng = random.Random(seed)
    edges: list[dict] = []
    ids = itertools.count()

    def record_id() -> str:
        # Mixed case and punctuation: byte order and an English collation sort these differently.
        return rng.choice(["", "A", "b", "Z", "_", "é"]) + format(next(ids), "x")

    def add(source: str, stream: str, rid: str, kind: str, value: str, entity: str | None = None) -> None:
        edges.append(
            {
                "record_key": f"{source}:{stream}:{rid}",
                "source": source,
                "stream": stream,
                "record_id": rid,
                "identifier_type": kind,
                "identifier_value": value,
                "entity_key": entity,
            }
        )

    all_records: list[str] = []
    for h in range(households):
        home_phone, home_card, laptop = f"+1555{h:07d}", f"tok-{h}", f"anon-{h}"
        household_records: list[str] = []
        for p in range(rng.randint(1, 3)):
            emails = [f"{rng.choice('aAbB')}{h}.{p}.{k}@x.example" for k in range(rng.randint(1, 3))]
            if rng.random() < 0.08:  # a typo that is someone else's address
                emails.append(f"a{rng.randrange(households)}.0.0@x.example")
            phones = [home_phone] if rng.random() < 0.5 else [f"+44{h:05d}{p}{k}" for k in range(rng.randint(0, 2))]
            for _ in range(rng.choice([1, 1, 2])):
                rid = record_id()
                add("crm", "contacts", rid, "crm_contact_id", rid)
                for email in rng.sample(emails, rng.randint(1, len(emails))):
                    add("crm", "contacts", rid, "email", email)
                for phone in phones[:1]:
                    add("crm", "contacts", rid, "phone", phone)
                household_records.append(f"crm:contacts:{rid}")
            if rng.random() < 0.6:
                rid = record_id()
                add("email", "subscribers", rid, "esp_subscriber_id", rid)
                add("email", "subscribers", rid, "email", rng.choice(emails))
                household_records.append(f"email:subscribers:{rid}")
            loyalty = None
            if rng.random() < 0.5:
                loyalty = record_id()
                add("pos", "loyalty_members", loyalty, "loyalty_id", loyalty)
                add("pos", "loyalty_members", loyalty, "email", emails[-1])
                for phone in phones[-1:]:
                    add("pos", "loyalty_members", loyalty, "phone", phone)
                household_records.append(f"pos:loyalty_members:{loyalty}")
            for _ in range(rng.randint(0, 4)):
                rid = record_id()
                card = home_card if rng.random() < 0.5 else f"tok-{h}-{p}-{rng.randint(0, 3)}"
                payer = f"pos:payer:{loyalty or card}"
                if loyalty:
                    add("pos", "transactions", rid, "loyalty_id", loyalty, payer)
                add("pos", "transactions", rid, "payment_token", card, payer)
                receipt = rng.choice([*emails, "store@shop.example", "store@shop.example"])
                add("pos", "transactions", rid, "email", receipt, payer)
                if rng.random() < 0.3:
                    add("pos", "transactions", rid, "phone", rng.choice([home_phone, *phones]), payer)
                household_records.append(f"pos:transactions:{rid}")
            visitor = f"{laptop}-{p}"
            add("web", "visitors", visitor, "anonymous_id", visitor)
            login = f"{laptop}|{p}"
            person = f"web:person:{h}.{p}"
            add("web", "logins", login, "anonymous_id", laptop, person)
            add("web", "logins", login, "email", emails[0], person)
            if rng.random() < 0.05:
                add("crm", "contacts", record_id(), "email", "test@test.com")
        for a, b in zip(household_records, household_records[1:], strict=False):
            if rng.random() < 0.1:
                source, stream, rid = a.split(":", 2)
                add(source, stream, rid, "record", b)
        if all_records and rng.random() < 0.05:  # a probabilistic match across households
            source, stream, rid = household_records[0].split(":", 2)
            add(source, stream, rid, "record", rng.choice(all_records))
        all_records += household_records
    return pd.DataFrame(edges).drop_duplicates(KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    """A throwaway database with the identity seeds, and the home dbt runs from."""
    home = TesseraHome(tmp_path_factory.mktemp("pg_identity"))
    with throwaway_postgres_database() as url, postgres_target(url) as env:
        run_dbt(["seed", "--select", "identity_rules", "identity_blocklist"], home, target="postgres")
        yield home, url, env


def replace_edges(env: dict, edges: pd.DataFrame) -> None:
    """The graph `int_identity_resolution` reads, with text columns under an English collation."""
    with connect(env) as conn, conn.cursor() as cur:
        columns = ", ".join(f'{c} varchar collate "en-x-icu"' for c in TEXT_COLUMNS)
        cur.execute("create schema if not exists intermediate")
        cur.execute("drop table if exists intermediate.int_identity_edges")
        cur.execute(f"create table intermediate.int_identity_edges ({columns}, observed_at timestamptz)")
        psycopg2.extras.execute_values(
            cur,
            f"insert into intermediate.int_identity_edges ({', '.join(TEXT_COLUMNS)}) values %s",
            [tuple(None if pd.isna(v) else v for v in row) for row in edges[TEXT_COLUMNS].itertuples(index=False)],
        )


@pytest.fixture(scope="module")
def stitched(database):
    """The SQL model's output and `stitch()`'s, on the same generated edges and seeds."""
    home, url, env = database
    edges = household_edges(seed=20261123)
    replace_edges(env, edges)
    result = run_dbt(["run", "--select", "int_identity_resolution"], home, target="postgres")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            sql_output = pd.read_sql("select * from intermediate.int_identity_resolution", conn)
            rules = pd.read_sql("select * from staging.identity_rules", conn)
            blocklist = pd.read_sql("select * from staging.identity_blocklist", conn)
    finally:
        engine.dispose()
    # The documented tie-breaks of the SQL version's wording: streams in (source, stream) order, and of two
    # limits broken at once the one of higher priority, then first by name.
    ordered_edges = edges.sort_values(["source", "stream", *KEY], kind="stable").reset_index(drop=True)
    ordered_rules = rules.sort_values(["priority", "identifier_type"], kind="stable").to_dict("records")
    python_output = stitch(ordered_edges, rules_from_rows(ordered_rules), blocklist)
    return result, sql_output, python_output


def test_the_generated_graph_exercises_every_rule(stitched):
    _, _, python_output = stitched
    decisions = Counter(python_output["decision"])
    assert decisions["over_limit"] >= 20 and decisions["shared"] >= 10 and decisions["blocked"] >= 1
    assert decisions["stitched"] > 1000
    assert (python_output["identifier_type"] == "record").sum() >= 5
    rebuilt = python_output.loc[python_output["decision"] == "over_limit", "reason"].str.extract(r" (\w+) values")[0]
    assert set(rebuilt) >= {"email", "crm_contact_id"}


def test_sql_stitching_gives_the_python_decisions_reasons_and_customer_keys(stitched):
    result, sql_output, python_output = stitched
    models = [r for r in result.result.results if r.node.resource_type == "model"]
    assert [(r.node.original_file_path, str(r.status)) for r in models] == [
        ("models/intermediate/identity/portable/int_identity_resolution.sql", "success")
    ]
    assert sorted(sql_output.columns[: len(TEXT_COLUMNS)]) == sorted(TEXT_COLUMNS)
    assert list(sql_output.columns[-4:]) == ["decision", "reason", "customer_key", "decided_at"]
    columns = [*KEY, "entity_key", "decision", "reason", "customer_key"]
    expected = python_output[columns].astype(object).fillna("<null>")
    actual = sql_output[columns].astype(object).fillna("<null>")
    merged = expected.merge(actual, on=KEY, how="outer", suffixes=("_python", "_sql"), indicator=True)
    assert set(merged["_merge"]) == {"both"}
    for column in ("entity_key", "decision", "reason", "customer_key"):
        differing = merged[merged[f"{column}_python"] != merged[f"{column}_sql"]]
        assert differing.empty, f"{column} differs on {len(differing)} edges:\n{differing.head(10).to_string()}"


def test_customer_keys_are_the_smallest_record_key_by_code_point(stitched):
    _, sql_output, _ = stitched
    assert all(key == min(group) for key, group in sql_output.groupby("customer_key")["record_key"])


def test_an_identifier_type_without_a_rule_fails_the_model_by_name(database, stitched):
    home, _, env = database
    edges = pd.DataFrame([{c: "x" for c in TEXT_COLUMNS} | {"record_key": "crm:contacts:x", "identifier_type": "fax"}])
    replace_edges(env, edges)

    with pytest.raises(RuntimeError, match=r"identifier types \['fax'\] have no rule in identity_rules; add them"):
        run_dbt(["run", "--select", "int_identity_resolution"], home, target="postgres")


def test_components_that_do_not_settle_within_the_bound_fail_the_model_saying_so(database, stitched):
    home, _, env = database
    chain = [
        {"record_key": f"crm:contacts:{i}", "source": "crm", "stream": "contacts", "record_id": str(i)}
        | {"identifier_type": "email", "identifier_value": f"{i + step}@x.example", "entity_key": None}
        for i in range(20)
        for step in (0, 1)
    ]
    replace_edges(env, pd.DataFrame(chain))

    with pytest.raises(RuntimeError, match=r"did not settle after 1 passes .* Raise the `identity_max_passes` var"):
        run_dbt(
            ["run", "--select", "int_identity_resolution", "--vars", "{identity_max_passes: 1}"],
            home,
            target="postgres",
        )
