"""Stitching in SQL on Spark decides every edge as the Python version does (transforms/identity/stitching.py).

The seeded households of tests/dbt/test_postgres_identity.py (duplicate contacts, shared phones, cards and
laptops, a store email, a blocklisted placeholder, match edges, record ids whose byte order differs from a
dictionary's) go into the Spark table `ref('int_identity_edges')` names, `intermediate.int_identity_edges`,
through the session dbt-spark's session method then runs on (`tessera.spark.spark_session`). dbt builds the
portable SQL model on the `spark` target, and its output must equal `stitch()` on the same edges, checked by
the PostgreSQL test's own assertions. On Spark every pass is a parquet table in the model's schema: none may
outlive the build, and a failed build's leftovers must not stop the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import pytest

import tests.dbt.test_postgres_identity as postgres_identity
from tessera.dbt_runner import run_dbt
from tessera.home import TesseraHome
from tessera.spark import spark_session
from transforms.identity.stitching import rules_from_rows, stitch

if TYPE_CHECKING:
    from dbt.cli.main import dbtRunnerResult

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2400)]

KEY, TEXT_COLUMNS = postgres_identity.KEY, postgres_identity.TEXT_COLUMNS
#: What the names of the model's scratch tables start with on Spark (macros/identity/connected_components.sql).
SCRATCH = "tessera_scratch__int_identity_resolution__"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> TesseraHome:
    """A home with the identity seeds in its Spark warehouse."""
    home = TesseraHome(tmp_path_factory.mktemp("spark_identity"))
    run_dbt(["seed", "--select", "identity_rules", "identity_blocklist"], home, target="spark")
    return home


def replace_edges(home: TesseraHome, edges: pd.DataFrame) -> None:
    """The graph `int_identity_resolution` reads: a parquet table with the edge models' text columns."""
    spark = spark_session(home)
    schema = ", ".join(f"{column} string" for column in TEXT_COLUMNS) + ", observed_at timestamp"
    rows = [
        (*(None if pd.isna(value) else value for value in row), None)
        for row in edges[TEXT_COLUMNS].itertuples(index=False)
    ]
    spark.sql("create database if not exists intermediate")
    frame = spark.createDataFrame(rows, schema)
    frame.write.mode("overwrite").format("parquet").saveAsTable("intermediate.int_identity_edges")


def read_table(spark, name: str) -> pd.DataFrame:
    table = spark.table(name)
    return pd.DataFrame.from_records(table.collect(), columns=table.columns)


def intermediate_tables(spark) -> list[str]:
    return sorted(row.tableName for row in spark.sql("show tables in intermediate").collect())


@dataclass(frozen=True)
class SparkStitching:
    """A build of the SQL model on Spark, `stitch()`'s output on the same edges, and the schema's tables after."""

    result: dbtRunnerResult
    sql_output: pd.DataFrame
    python_output: pd.DataFrame
    tables: list[str]

    @property
    def compared(self) -> tuple:
        """What the PostgreSQL test's assertions take."""
        return self.result, self.sql_output, self.python_output


@pytest.fixture(scope="module")
def stitched(home) -> SparkStitching:
    """The SQL model's output on Spark and `stitch()`'s, on the same generated edges and seeds."""
    edges = postgres_identity.household_edges(seed=20261123)
    replace_edges(home, edges)
    result = run_dbt(["run", "--select", "int_identity_resolution"], home, target="spark")
    spark = spark_session(home)  # the session the build ran on
    sql_output = read_table(spark, "intermediate.int_identity_resolution")
    rules = read_table(spark, "staging.identity_rules")
    blocklist = read_table(spark, "staging.identity_blocklist")
    # The SQL version's documented tie-breaks of wording, as in the PostgreSQL test: streams in (source,
    # stream) order, and of two limits broken at once the one of higher priority, then first by name.
    ordered_edges = edges.sort_values(["source", "stream", *KEY], kind="stable").reset_index(drop=True)
    ordered_rules = rules.sort_values(["priority", "identifier_type"], kind="stable").to_dict("records")
    python_output = stitch(ordered_edges, rules_from_rows(ordered_rules), blocklist)
    return SparkStitching(result, sql_output, python_output, intermediate_tables(spark))


def test_spark_stitching_gives_the_python_decisions_reasons_and_customer_keys(stitched):
    postgres_identity.test_the_generated_graph_exercises_every_rule(stitched.compared)
    postgres_identity.test_sql_stitching_gives_the_python_decisions_reasons_and_customer_keys(stitched.compared)


def test_customer_keys_are_the_smallest_record_key_by_code_point(stitched):
    postgres_identity.test_customer_keys_are_the_smallest_record_key_by_code_point(stitched.compared)


def test_no_scratch_table_outlives_the_build(stitched):
    assert stitched.tables == ["int_identity_edges", "int_identity_resolution"]


def test_a_failed_builds_scratch_tables_do_not_stop_the_next_build(home, stitched):
    # A chain of 12 records joined by match edges: one customer, found in more passes than one.
    chain = pd.DataFrame(
        [
            {"record_key": f"crm:contacts:{i}", "source": "crm", "stream": "contacts", "record_id": str(i)}
            | {"identifier_type": "record", "identifier_value": f"crm:contacts:{i + 1}", "entity_key": None}
            for i in range(12)
        ]
    )
    replace_edges(home, chain)

    with pytest.raises(RuntimeError, match=r"did not settle after 1 passes .* Raise the `identity_max_passes` var"):
        run_dbt(
            ["run", "--select", "int_identity_resolution", "--vars", "{identity_max_passes: 1}"],
            home,
            target="spark",
        )
    assert f"{SCRATCH}stitch_edges" in intermediate_tables(spark_session(home))

    run_dbt(["run", "--select", "int_identity_resolution"], home, target="spark")
    spark = spark_session(home)
    output = read_table(spark, "intermediate.int_identity_resolution")
    assert len(output) == 12
    assert set(output["decision"]) == {"stitched"}
    # "crm:contacts:0" < "crm:contacts:1" < "crm:contacts:10" < … by code point.
    assert set(output["customer_key"]) == {"crm:contacts:0"}
    assert intermediate_tables(spark) == ["int_identity_edges", "int_identity_resolution"]
