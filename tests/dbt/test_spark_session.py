"""One process, two homes on Spark: the second home's dbt builds in its own metastore and warehouse folder.

Spark keeps one JVM per process, and a JVM that served one home keeps that home's Hive metastore client on the
threads that used it: the second home's `create database if not exists` then found the first home's schema and
its views failed (`InvalidObjectException`). Test modules that each build their own home on Spark in one
worker met exactly this.
"""

from __future__ import annotations

import pytest

from tessera.dbt_runner import run_dbt
from tessera.home import TesseraHome
from tessera.spark import spark_dir, spark_session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

SEEDS = ["seed", "--select", "identity_rules", "identity_blocklist"]


def schemas(home: TesseraHome) -> set[str]:
    return {row[0] for row in spark_session(home).sql("show databases").collect()}


def test_a_second_home_builds_in_its_own_metastore_after_a_first_one_stopped(tmp_path):
    from pyspark.sql import SparkSession

    first, second = TesseraHome(tmp_path / "first"), TesseraHome(tmp_path / "second")
    run_dbt(SEEDS, first, target="spark")
    assert "crm" in schemas(first)
    SparkSession.builder.getOrCreate().stop()  # as a caller done with a home does

    run_dbt(SEEDS, second, target="spark")
    assert {"crm", "staging"} <= schemas(second)
    spark = spark_session(second)
    assert spark.table("staging.identity_rules").count() > 0
    assert (spark_dir(second) / "metastore_db").is_dir()
    assert list((spark_dir(second) / "warehouse").glob("staging.db/identity_rules"))  # its tables, its folder

    run_dbt(SEEDS, first, target="spark")  # and back, without stopping first: the first home's metastore again
    assert "crm" in schemas(first)
