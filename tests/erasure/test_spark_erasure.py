"""Erasure in a Spark warehouse: every table whose text columns name the person is rewritten without their rows,
partitions that held only their rows included, and no file under the warehouse folder still holds them.

The tables are made as a Spark build makes them (parquet tables, staging partitioned by `_batch_id`, with a
view over a mart), in the home's own session (`tessera.spark.spark_session`).
"""

from __future__ import annotations

import pytest

from tessera.erasure.requests import parse_request
from tessera.erasure.resolve import ErasurePlan
from tessera.erasure.spark import SCRATCH, erase_from_spark, has_spark_warehouse
from tessera.home import TesseraHome
from tessera.spark import spark_dir, spark_session
from tests.erasure.byte_scan import occurrences

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

EMAIL, CUSTOMER = "Ann.Lee@Example.com", "cus_ann"
CONTACTS = [
    # contact_id, email, _batch_id: batch b1 mixes people, b2 holds only Ann's rows, b3 none of hers
    ("c1", f"  {EMAIL} ", "b1"),
    ("c2", "bob@example.com", "b1"),
    ("c3", None, "b1"),  # a NULL names nobody: the row stays
    ("c1", EMAIL.lower(), "b2"),
    ("c4", "cy@example.com", "b3"),
]
GOLDEN = [(CUSTOMER, "Ann", 3), ("cus_bob", "Bob", 1)]


@pytest.fixture
def home(tmp_path) -> TesseraHome:
    home = TesseraHome(tmp_path / "home")
    spark = spark_session(home)
    for schema in ("staging", "marts"):
        spark.sql(f"create database if not exists {schema}")
    contacts = spark.createDataFrame(CONTACTS, "contact_id string, email string, _batch_id string")
    contacts.write.format("parquet").partitionBy("_batch_id").saveAsTable("staging.stg_crm__contacts")
    spark.createDataFrame(GOLDEN, "customer_id string, first_name string, orders int").write.format(
        "parquet"
    ).saveAsTable("marts.golden_customers")
    spark.sql("create view marts.golden_names as select customer_id, first_name from marts.golden_customers")
    return home


def plan_for_ann() -> ErasurePlan:
    return ErasurePlan(request=parse_request("email", EMAIL), customer_ids={CUSTOMER})


def rows(home: TesseraHome, table: str) -> list[tuple]:
    return sorted(tuple(row) for row in spark_session(home).table(table).collect())


def test_the_persons_rows_go_from_every_table_and_every_file(home):
    done = erase_from_spark(home, plan_for_ann())

    assert done.rows == {"staging.stg_crm__contacts": 2, "marts.golden_customers": 1}
    assert rows(home, "staging.stg_crm__contacts") == [
        ("c2", "bob@example.com", "b1"),
        ("c3", None, "b1"),
        ("c4", "cy@example.com", "b3"),
    ]
    assert rows(home, "marts.golden_customers") == [("cus_bob", "Bob", 1)]
    assert rows(home, "marts.golden_names") == [("cus_bob", "Bob")]
    spark = spark_session(home)
    assert not [t for t in spark.catalog.listTables("staging") if t.name.startswith(SCRATCH)]
    assert occurrences(spark_dir(home) / "warehouse", [EMAIL, CUSTOMER]) == {}  # in no file, raw or decoded

    again = erase_from_spark(home, plan_for_ann())
    assert again.rows == {}  # a rerun finds nothing left


def test_an_interrupted_rewrite_is_finished_from_its_scratch_table(home):
    """A crash after the kept rows reached the scratch table, while the table itself was being overwritten:
    the next erasure puts the kept rows back first, and they are all there."""
    spark = spark_session(home)
    kept = "select * from staging.stg_crm__contacts where contact_id <> 'c1'"
    spark.sql(f"create table staging.{SCRATCH}stg_crm__contacts using parquet as {kept}")
    spark.sql("truncate table staging.stg_crm__contacts")  # the overwrite had deleted the old files

    erase_from_spark(home, plan_for_ann())

    assert [row[0] for row in rows(home, "staging.stg_crm__contacts")] == ["c2", "c3", "c4"]
    assert not spark.catalog.tableExists(f"{SCRATCH}stg_crm__contacts", "staging")


def test_a_home_without_a_spark_build_is_left_alone(tmp_path):
    home = TesseraHome(tmp_path / "duckdb-only")
    assert not has_spark_warehouse(home)
    assert erase_from_spark(home, plan_for_ann()).rows == {}
