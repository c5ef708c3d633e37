"""The whole dbt project builds on Spark as on DuckDB, from the same lake, with the same customers.

One simulated world (an initial load and two daily batches, extracted by the real connectors) is built on a
local Spark session (`run_dbt(…, target="spark")`: dbt-spark's session method, tessera/spark.py, the Python
models run in that session, tessera/spark_python_models.py) and on DuckDB, once after the first daily batch and
again, incrementally, after the second. After each build every compared model must hold the same rows on both
engines, value for value: staging and enrichment (phone numbers, user agents and IP countries go through the same
Python functions, registered as Spark Arrow UDFs), the stitching decisions (portable SQL on Spark, Python on
DuckDB), the probabilistic match edges (Splink on Spark's SparkAPI and on DuckDB, with the same fit), the customer
xref, lineage, golden customers, merges, suppressions, every segment and the predictions. Only the clock of the
run (when a row was decided, assigned or built) may differ.

The engines share one home (each its own warehouse), so the matcher's fit and the predictors' version that the first engine makes are
the ones the second uses: the comparison is of building and scoring, not of training twice.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pytest

from tessera.dbt_runner import PRODUCTION_BUILD_FLAGS, run_dbt
from tessera.home import TesseraHome
from tests.dbt.simulated_lake import land_simulated_lake
from tests.dbt.test_postgres_build import STAGING

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3600)]

ENRICHED = "int_web_events_enriched"
#: Each compared staging model's grain.
KEYS = {
    "stg_crm__contacts": "contact_id",
    "stg_email__subscribers": "subscriber_id",
    "stg_email__events": "event_id",
    "stg_pos__loyalty_members": "loyalty_id",
    "stg_pos__transactions": "transaction_id",
    "stg_web__events": "message_id",
    ENRICHED: "message_id",
}
#: The staging models compared by key, and their schemas.
TABLES = {**{model: f"staging.{model}" for model in STAGING}, ENRICHED: f"intermediate.{ENRICHED}"}
SEGMENTS = ["one_time_buyers", "lapsed_vips", "engaged_no_purchase", "new_loyalty_members", "high_value_at_risk"]
#: The models above staging, compared as multisets of rows.
DOWNSTREAM = {
    "int_identity_resolution": "intermediate.int_identity_resolution",
    "int_identity_edges__probabilistic": "intermediate.int_identity_edges__probabilistic",
    "customer_xref": "marts.customer_xref",
    "golden_customer_lineage": "marts.golden_customer_lineage",
    "golden_customers": "marts.golden_customers",
    "customer_merges": "marts.customer_merges",
    "customer_suppressions": "marts.customer_suppressions",
    "customer_predictions": "marts.customer_predictions",
    **{segment: f"segments.{segment}" for segment in SEGMENTS},
}
#: Models whose columns differ between engines, compared on the columns they share: DuckDB's stitching keeps the
#: rule values its screening model decided by (`rule_priority`, `rule_max_per_customer`); portable SQL does not.
SHARED_COLUMNS = {
    "int_identity_resolution": [
        "record_key",
        "source",
        "stream",
        "record_id",
        "identifier_type",
        "identifier_value",
        "entity_key",
        "observed_at",
        "match_probability",
        "match_detail",
        "decision",
        "reason",
        "customer_key",
    ],
}
#: The run's clock (when a row was decided, assigned or built): two builds differ there by design.
CLOCK_COLUMNS = {"decided_at", "assigned_at", "merged_at"}
#: Models only one engine has: DuckDB screens the graph in a model of its own before its Python stitching;
#: portable SQL stitching screens inside its query.
DUCKDB_ONLY = {"int_identity_edge_screening"}


@dataclass
class Built:
    """Both engines' tables after one day's build."""

    day: int
    spark_statuses: dict[str, Counter] = field(default_factory=dict)
    spark_nodes: set[str] = field(default_factory=set)
    duckdb_nodes: set[str] = field(default_factory=set)
    columns: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    rows: dict[str, dict[str, dict[str, tuple]]] = field(default_factory=dict)
    downstream: dict[str, dict[str, Counter]] = field(default_factory=lambda: defaultdict(dict))
    partitions: dict[str, list[str]] = field(default_factory=dict)


def comparable(value):
    """A value as both engines' clients can agree on it: timestamps as naive UTC (DuckDB hands back
    `timestamp with time zone` as aware datetimes, Spark its session-zone `timestamp` as naive UTC), floats to
    12 significant digits (the engines sum in different orders), arrays as tuples."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, float):
        return Decimal(f"{value:.12g}")
    if isinstance(value, list | tuple):
        return tuple(comparable(item) for item in value)
    return value


def read_tables(columns_and_rows) -> tuple[dict, dict]:
    """Per compared staging model: its column names, and its rows by key (each a tuple in sorted column order)."""
    columns, rows = {}, {}
    for model, table in TABLES.items():
        names, records = columns_and_rows(table)
        columns[model] = names
        ordered = sorted(names)
        key = names.index(KEYS[model])
        by_key = {}
        for record in records:
            values = dict(zip(names, record, strict=True))
            by_key[record[key]] = tuple(comparable(values[name]) for name in ordered)
        assert len(by_key) == len(records), f"{model}: duplicate keys"
        rows[model] = by_key
    return columns, rows


def read_downstream(columns_and_rows) -> dict[str, Counter]:
    """Per model above staging: its rows as a multiset of (column, value) tuples, the run's clock left out."""
    found = {}
    for model, table in DOWNSTREAM.items():
        names, records = columns_and_rows(table)
        kept = sorted(name for name in SHARED_COLUMNS.get(model, names) if name not in CLOCK_COLUMNS)
        found[model] = Counter(
            tuple((name, comparable(dict(zip(names, record, strict=True))[name])) for name in kept)
            for record in records
        )
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[int, Built]:
    from tessera.spark import spark_session

    root = tmp_path_factory.mktemp("spark")
    home = TesseraHome(root / "home")
    days: dict[int, Built] = {}

    def build_both(day: int) -> None:
        if day == 0:
            return
        found = days[day] = Built(day)
        # dbt alone, as on DuckDB below: `run_transform` would also serve Spark's tables into the DuckDB file
        # this home's DuckDB build keeps (tessera/spark_serving.py).
        result = run_dbt(["build", *PRODUCTION_BUILD_FLAGS], home, target="spark")
        statuses: dict[str, Counter] = defaultdict(Counter)
        for node_result in result.result.results:
            statuses[str(node_result.node.resource_type)][str(node_result.status)] += 1
            found.spark_nodes.add(node_result.node.unique_id)
        found.spark_statuses = dict(statuses)
        spark = spark_session(home)

        def spark_table(name):
            frame = spark.table(name)
            return frame.columns, [tuple(row) for row in frame.collect()]

        found.columns["spark"], found.rows["spark"] = read_tables(spark_table)
        for model, rows in read_downstream(spark_table).items():
            found.downstream[model]["spark"] = rows
        found.partitions = {
            model: sorted(row[0].split("=", 1)[1] for row in spark.sql(f"show partitions staging.{model}").collect())
            for model in STAGING
        }

        duckdb_result = run_dbt(["build", *PRODUCTION_BUILD_FLAGS], home)
        found.duckdb_nodes = {node_result.node.unique_id for node_result in duckdb_result.result.results}
        with duckdb.connect(str(home.warehouse), read_only=True) as con:

            def duckdb_table(name):
                cursor = con.execute(f"select * from {name}")
                return [d[0] for d in cursor.description], cursor.fetchall()

            found.columns["duckdb"], found.rows["duckdb"] = read_tables(duckdb_table)
            for model, rows in read_downstream(duckdb_table).items():
                found.downstream[model]["duckdb"] = rows

    try:
        land_simulated_lake(home, root / "sim", customers=200, days=2, seed=7, after_day=build_both)
        yield days
    finally:
        from pyspark.sql import SparkSession

        running = SparkSession.getActiveSession()
        if running is not None:
            running.stop()


@pytest.mark.parametrize("day", [1, 2])
def test_spark_builds_every_model_with_its_seeds_and_data_tests(built, day):
    statuses = built[day].spark_statuses
    assert set(statuses["model"]) == {"success"}, statuses["model"]
    assert set(statuses["test"]) == {"pass"} and statuses["test"]["pass"] >= 150, statuses["test"]
    assert set(statuses["seed"]) == {"success"}
    # The placeholders-survive-seed-loading check (tests/junk_placeholders_survive_seed_loading.sql) ran too.
    assert any("junk_placeholders_survive_seed_loading" in node for node in built[day].spark_nodes)

    def models(nodes):
        return {node.rsplit(".", 1)[1] for node in nodes if node.startswith("model.")}

    assert models(built[day].spark_nodes) == models(built[day].duckdb_nodes) - DUCKDB_ONLY


@pytest.mark.parametrize("day", [1, 2])
def test_staging_and_enrichment_have_the_same_columns_on_both_engines(built, day):
    columns = built[day].columns
    for model in TABLES:
        assert sorted(columns["spark"][model]) == sorted(columns["duckdb"][model]), model


@pytest.mark.parametrize("day", [1, 2])
def test_staging_and_enrichment_have_the_same_rows_on_both_engines_value_for_value(built, day):
    rows = built[day].rows
    names = {model: sorted(built[day].columns["duckdb"][model]) for model in TABLES}
    for model in TABLES:
        spark, duck = rows["spark"][model], rows["duckdb"][model]
        assert spark.keys() == duck.keys(), (
            f"{model}: keys only on Spark {sorted(spark.keys() - duck.keys())[:5]}, only on DuckDB {sorted(duck.keys() - spark.keys())[:5]}"
        )
        differing = {
            key: [(name, s, d) for name, s, d in zip(names[model], spark[key], duck[key], strict=True) if s != d]
            for key in duck
            if spark[key] != duck[key]
        }
        assert not differing, f"{model}: {len(differing)} rows differ, e.g. {list(differing.items())[:3]}"
        assert duck, model


@pytest.mark.parametrize("model", list(DOWNSTREAM))
@pytest.mark.parametrize("day", [1, 2])
def test_every_model_above_staging_has_the_same_rows_on_both_engines(built, day, model):
    found = built[day].downstream[model]
    spark, duck = found["spark"], found["duckdb"]
    only_spark, only_duckdb = spark - duck, duck - spark
    assert not only_spark and not only_duckdb, (
        f"{model}: {sum(only_spark.values())} rows only on Spark, e.g. {list(only_spark)[:2]};"
        f" {sum(only_duckdb.values())} only on DuckDB, e.g. {list(only_duckdb)[:2]}"
    )


def test_the_compared_models_hold_customers_matches_and_predictions(built):
    """The equalities above are not of empty tables."""
    found = built[2].downstream
    assert sum(found["golden_customers"]["spark"].values()) > 100
    assert sum(found["int_identity_edges__probabilistic"]["spark"].values()) > 0
    assert sum(found["customer_predictions"]["spark"].values()) > 30
    assert sum(found["customer_merges"]["spark"].values()) + sum(found["customer_suppressions"]["spark"].values())
    assert any(sum(found[segment]["spark"].values()) for segment in SEGMENTS)


def test_phone_numbers_and_user_agents_are_read_on_spark(built):
    """The compared values include what only the registered Python functions compute."""
    day = built[2]
    names = {model: sorted(day.columns["spark"][model]) for model in TABLES}

    def column(model, name):
        return [row[names[model].index(name)] for row in day.rows["spark"][model].values()]

    contacts_e164 = [v for v in column("stg_crm__contacts", "phone_e164") if v is not None]
    assert len(contacts_e164) > 20 and all(v.startswith("+") for v in contacts_e164)
    receipts_e164 = [v for v in column("stg_pos__transactions", "phone_e164") if v is not None]
    assert receipts_e164 and all(v.startswith("+") for v in receipts_e164)
    assert sum(v is not None for v in column("stg_web__events", "user_agent")) > 20
    for enriched in ("device_type", "browser_family", "os_family", "ip_country"):
        assert sum(v is not None for v in column(ENRICHED, enriched)) > 20, enriched


def test_the_second_day_is_incremental_on_spark(built):
    """Day 2 added batch partitions and kept day 1's rows that no later version replaced."""
    first, second = built[1], built[2]
    for model in ("stg_email__events", "stg_pos__transactions", "stg_web__events"):  # events are never replaced
        assert set(second.partitions[model]) > set(first.partitions[model]), model
        assert second.rows["spark"][model].keys() > first.rows["spark"][model].keys(), model
    updated = [
        key
        for key, row in second.rows["spark"]["stg_crm__contacts"].items()
        if key in first.rows["spark"]["stg_crm__contacts"] and row != first.rows["spark"]["stg_crm__contacts"][key]
    ]
    assert updated, "the second day changed no contact: the incremental path was not exercised"
