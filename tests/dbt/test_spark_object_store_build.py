"""Staging builds on Spark from a lake in a bucket (`TESSERA_LAKE=s3://…`, a real S3 server) with the same rows
as on DuckDB from that bucket.

pyspark ships no `s3a://` filesystem, so the lake hook reads a bucket through the `tessera_lake_files` data source
(transforms/spark_lake.py: pyarrow over the lake's fsspec filesystem), file by file, exactly the files each
visible batch's `_SUCCESS` lists. A part file that sits in a batch's folder unlisted (a re-run's upload not yet
published) must be read by neither engine.

Spark's Python workers take their environment from the JVM, which takes it from the process that first starts
Spark; this test's object store is reached through variables set for this test only, so Spark runs in a process
of its own, started after them. Only staging and the seeds it reads are built and compared.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from unittest.mock import patch

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tests.dbt.test_spark_build as spark_build
from connectors.contract import contract_for
from connectors.lake import batch_files, batch_ids, is_visible, open_parquet, stream_dir
from tessera.dbt_runner import PRODUCTION_BUILD_FLAGS, run_dbt
from tessera.home import TesseraHome
from tests.dbt.simulated_lake import land_simulated_lake
from tests.dbt.test_postgres_build import STAGING

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2400)]

#: Staging and the seeds it reads, on both engines.
STAGING_BUILD = ["build", "--select", "+staging", *PRODUCTION_BUILD_FLAGS]
STRAY_CONTACT = "c-unpublished"
#: A staging model whose unit tests run on Spark too (docs/warehouse-engines.md, "Unit tests on Spark").
UNIT_TESTED = "stg_web__events"


def staging_tables(columns_and_rows) -> tuple[dict, dict]:
    """`read_tables` (tests/dbt/test_spark_build.py) over the staging models only: nothing else is built here."""
    with patch.dict(spark_build.TABLES, {model: f"staging.{model}" for model in STAGING}, clear=True):
        return spark_build.read_tables(columns_and_rows)


def build_on_spark(root: str, lake: str) -> tuple[dict[str, Counter], dict, dict]:
    """Build staging on Spark (in the process this runs in), read it back, then run a staging unit test there:
    the statuses of dbt's nodes by resource type, and each model's columns and rows by key."""
    from pyspark.sql import SparkSession

    home = TesseraHome(Path(root), lake_location=lake)
    result = run_dbt(STAGING_BUILD, home, target="spark")
    statuses: dict[str, Counter] = {}
    for node_result in result.result.results:
        kind = str(node_result.node.resource_type)
        statuses.setdefault(kind, Counter())[str(node_result.status)] += 1
    spark = SparkSession.builder.getOrCreate()  # the session dbt built on

    def spark_table(name):
        frame = spark.table(name)
        return frame.columns, [tuple(row) for row in frame.collect()]

    columns, rows = staging_tables(spark_table)
    # Unit tests take their fixtures' column types from the sources in the metastore, which a bucket's are not.
    unit_tests = run_dbt(["test", "--select", f"{UNIT_TESTED},test_type:unit"], home, target="spark")
    statuses["unit_test"] = Counter(
        str(node_result.status)
        for node_result in unit_tests.result.results
        if str(node_result.node.resource_type) == "unit_test"
    )
    SparkSession.builder.getOrCreate().stop()
    return statuses, columns, rows


def land_unpublished_contact(home: TesseraHome) -> set[str]:
    """A part file in a visible contacts batch's folder that its `_SUCCESS` does not list: a contact newer than
    any, with the batch's own id, which a reader globbing `*.parquet` would take. Returns the contacts of the
    files the batch does list."""
    stream = stream_dir(home.lake, "raw", "crm", "contacts")
    folder = next(stream / f"batch_id={b}" for b in batch_ids(stream) if is_visible(stream / f"batch_id={b}"))
    listed = batch_files(folder)
    row = {
        "contact_id": STRAY_CONTACT,
        "email": "unpublished@example.com",
        "updated_at": datetime(2030, 1, 1, tzinfo=UTC),
        "_batch_id": folder.name.removeprefix("batch_id="),
        "_extracted_at": datetime(2030, 1, 1, tzinfo=UTC),
    }
    with (folder / "part-unpublished-00000.parquet").open("wb") as sink:
        pq.write_table(pa.Table.from_pylist([row], schema=contract_for("crm", "contacts").schema), sink)
    assert batch_files(folder) == listed
    return {contact for part in listed for contact in open_parquet(part).read(["contact_id"])["contact_id"].to_pylist()}


@pytest.fixture(scope="module")
def built(tmp_path_factory, object_store):
    """One small world landed in a bucket, built on Spark and on DuckDB."""
    root = tmp_path_factory.mktemp("spark_object_store")
    with pytest.MonkeyPatch.context() as env:
        for name, value in object_store.environment.items():
            env.setenv(name, value)
        env.delenv("TESSERA_LAKE", raising=False)
        home = TesseraHome(root / "home", lake_location=object_store.new_lake())
        land_simulated_lake(home, root / "sim", customers=60, days=1)
        published = land_unpublished_contact(home)
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as spark_process:
            statuses, spark_columns, spark_rows = spark_process.submit(
                build_on_spark, str(home.root), home.lake_location
            ).result()
        run_dbt(STAGING_BUILD, home)
        with duckdb.connect(str(home.warehouse), read_only=True) as con:

            def duckdb_table(name):
                cursor = con.execute(f"select * from {name}")
                return [d[0] for d in cursor.description], cursor.fetchall()

            duckdb_columns, duckdb_rows = staging_tables(duckdb_table)
    return {
        "home": home,
        "published": published,
        "statuses": statuses,
        "columns": {"spark": spark_columns, "duckdb": duckdb_columns},
        "rows": {"spark": spark_rows, "duckdb": duckdb_rows},
    }


def test_the_lake_is_in_the_bucket_only(built):
    assert not (built["home"].root / "lake").exists()


def test_spark_builds_staging_and_its_seeds_from_the_bucket(built):
    statuses = built["statuses"]
    assert statuses["model"] == Counter({"success": len(STAGING)})
    assert set(statuses["seed"]) == {"success"}
    assert set(statuses["test"]) == {"pass"} and statuses["test"]["pass"] >= 50


def test_unit_tests_run_on_spark_with_the_lake_in_a_bucket(built):
    assert built["statuses"]["unit_test"] == Counter({"pass": 1})


def test_staging_has_the_same_columns_on_both_engines(built):
    for model in STAGING:
        assert sorted(built["columns"]["spark"][model]) == sorted(built["columns"]["duckdb"][model]), model


def test_staging_has_the_same_rows_on_both_engines_value_for_value(built):
    spark_rows, duckdb_rows = built["rows"]["spark"], built["rows"]["duckdb"]
    names = {model: sorted(built["columns"]["duckdb"][model]) for model in STAGING}
    for model in STAGING:
        spark, duck = spark_rows[model], duckdb_rows[model]
        assert duck, model
        assert spark.keys() == duck.keys(), (
            f"{model}: keys only on Spark {sorted(spark.keys() - duck.keys())[:5]}, "
            f"only on DuckDB {sorted(duck.keys() - spark.keys())[:5]}"
        )
        differing = {
            key: [(name, s, d) for name, s, d in zip(names[model], spark[key], duck[key], strict=True) if s != d]
            for key in duck
            if spark[key] != duck[key]
        }
        assert not differing, f"{model}: {len(differing)} rows differ, e.g. {list(differing.items())[:3]}"


def test_neither_engine_reads_a_file_the_batch_does_not_list(built):
    contacts = {engine: rows["stg_crm__contacts"] for engine, rows in built["rows"].items()}
    for engine in ("spark", "duckdb"):
        assert STRAY_CONTACT not in contacts[engine], engine
        assert built["published"] & contacts[engine].keys(), f"{engine} read none of the batch's listed contacts"
