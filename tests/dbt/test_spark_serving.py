"""A Spark build served to the DuckDB readers (tessera/spark_serving.py), checked against Spark and DuckDB.

A tiny simulated world is built on DuckDB first, whose working file is kept aside as the reference for names and
types, then on Spark with `run_transform(target="spark")`: the build, the serving into the working file, the
golden checks and the publication. The served file must hold every table of the Spark build with Spark's rows,
and DuckDB's tables, columns, column order, types and views; the checks and the publication must have run on it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import duckdb
import pytest

from tessera.dbt_runner import PRODUCTION_BUILD_FLAGS, run_dbt, run_transform
from tessera.home import TesseraHome
from tessera.publication import last_publication, published_path
from tessera.spark_serving import SERVED_SCHEMAS, arrow_stream, built_tables, serve_warehouse
from tests.dbt.simulated_lake import land_simulated_lake
from tests.dbt.test_spark_build import DUCKDB_ONLY

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3600)]

#: A model built by other code on each engine (Python on DuckDB, portable SQL on Spark), with other columns:
#: served with Spark's own.
ENGINE_SPECIFIC = {"intermediate.int_identity_resolution"}
#: The schemas of the file whose tables and views are compared: the served ones, and dbt's views.
COMPARED_SCHEMAS = (*SERVED_SCHEMAS, "analyst")


@dataclass
class World:
    home: TesseraHome
    reference: str  #: the DuckDB build's working file
    spark: object


def columns_of(path: str) -> dict[str, list[tuple[str, str]]]:
    """Each table's and view's columns and types, in order, by `schema.table`, in the compared schemas."""
    with duckdb.connect(path, read_only=True) as con:
        rows = con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns"
            " where table_catalog = current_database() and table_schema in (select unnest(?::varchar[]))"
            " order by table_schema, table_name, ordinal_position",
            [list(COMPARED_SCHEMAS)],
        ).fetchall()
    found: dict[str, list[tuple[str, str]]] = {}
    for schema, table, column, data_type in rows:
        found.setdefault(f"{schema}.{table}", []).append((column, data_type))
    return found


def kinds_of(path: str) -> dict[str, str]:
    with duckdb.connect(path, read_only=True) as con:
        rows = con.execute(
            "select table_schema, table_name, table_type from information_schema.tables"
            " where table_catalog = current_database() and table_schema in (select unnest(?::varchar[]))",
            [list(COMPARED_SCHEMAS)],
        ).fetchall()
    return {f"{schema}.{table}": kind for schema, table, kind in rows}


def frozen(value):
    """A value as a hashable key that survives the serving's casts to DuckDB's types: timestamps as instants
    (naive ones are UTC), whole numbers as ints (a `hugeint` reads as a decimal), other numbers to 12
    significant digits (a Spark decimal served as a DuckDB double), lists as tuples."""
    from datetime import UTC, datetime
    from decimal import Decimal

    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, float | Decimal):
        return Decimal(f"{float(value):.12g}")
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, frozen(item)) for key, item in value.items()))
    return value


def rows_of(table) -> Counter:
    """An Arrow table's rows as a multiset of (column, value) tuples in name order."""
    names = sorted(table.column_names)
    return Counter(tuple((name, frozen(row[name])) for name in names) for row in table.to_pylist())


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    from pyspark.sql import SparkSession

    from tessera.spark import spark_session

    root = tmp_path_factory.mktemp("serving")
    home = TesseraHome(root / "home", lake_location=None)
    land_simulated_lake(home, root / "sim", customers=40, days=1, seed=7)
    try:
        run_dbt(["build", *PRODUCTION_BUILD_FLAGS], home)  # the reference: what DuckDB makes of this lake
        reference = root / "duckdb-build.duckdb"
        home.warehouse.rename(reference)
        run_transform(home, target="spark")  # the Spark build, served, checked and published
        yield World(home, str(reference), spark_session(home))
    finally:
        running = SparkSession.getActiveSession()
        if running is not None:
            running.stop()


def test_every_spark_table_is_served_with_its_rows(world):
    tables = built_tables(world.spark)
    served = kinds_of(str(world.home.warehouse))
    assert {name for name, kind in served.items() if kind == "BASE TABLE"} == set(tables)
    assert {"marts.golden_customers", "segments.one_time_buyers", "staging.stg_crm__contacts"} <= set(tables)
    compared = 0
    with duckdb.connect(str(world.home.warehouse), read_only=True) as con:
        for name in tables:
            spark_rows = rows_of(world.spark.table(name).toArrow())
            duckdb_rows = rows_of(con.sql(f"select * from {name}").to_arrow_table())
            assert duckdb_rows == spark_rows, name
            compared += spark_rows.total()
    assert compared > 1000


def test_the_served_file_has_the_duckdb_builds_tables_columns_types_and_views(world):
    reference, served = columns_of(world.reference), columns_of(str(world.home.warehouse))
    duckdb_only = {f"intermediate.{model}" for model in DUCKDB_ONLY}
    assert set(served) == set(reference) - duckdb_only
    assert kinds_of(str(world.home.warehouse)) == {
        name: kind for name, kind in kinds_of(world.reference).items() if name not in duckdb_only
    }
    same = {name for name in served if name not in ENGINE_SPECIFIC}
    # Names, order and types, the analysts' views and the identity edges' union included.
    assert {name: served[name] for name in same} == {name: reference[name] for name in same}
    assert dict(served["marts.customer_merges"])["merged_at"] == "TIMESTAMP"  # naive on DuckDB, UTC on Spark
    assert dict(served["marts.golden_customers"])["first_seen_at"] == "TIMESTAMP WITH TIME ZONE"
    assert dict(served["marts.golden_customers"])["order_count"] == "HUGEINT"  # a sum on DuckDB, a bigint on Spark
    assert served["staging.stg_crm__contacts"][-1][0] != "_batch_id"  # Spark's partition column is last there
    # The model that differs by engine keeps Spark's columns: those it shares with DuckDB's have its types.
    for name in ENGINE_SPECIFIC:
        common = dict(reference[name]).keys() & dict(served[name]).keys()
        assert {c: t for c, t in served[name] if c in common} == {c: t for c, t in reference[name] if c in common}
        assert [c for c, _ in served[name]] == world.spark.table(name).columns


def test_the_analysts_views_read_the_served_marts_masked(world):
    with duckdb.connect(str(world.home.warehouse), read_only=True) as con:
        (mismatched,) = con.execute(
            "select count(*) from analyst.golden_customers as a full join marts.golden_customers as m"
            " using (customer_id) where a.email_sha256 is distinct from sha256(m.email)"
        ).fetchone()
        (customers,) = con.execute("select count(*) from analyst.golden_customers").fetchone()
    assert mismatched == 0 and customers > 20


def test_the_checks_and_the_publication_ran_on_the_served_file(world):
    from tessera.checks.mart_checks import check_marts

    results = check_marts(world.home)
    assert results and all(result.passed for result in results), [r.suite for r in results if not r.passed]
    with duckdb.connect(str(world.home.warehouse), read_only=True) as con:
        (golden,) = con.execute("select count(*) from marts.golden_customers").fetchone()
    assert {r.suite: r.rows for r in results}["marts.golden_customers"] == golden
    published = last_publication(world.home)
    assert published is not None and published.path == published_path(world.home)
    assert published.tables["golden_customers"] == golden
    with duckdb.connect(str(published.path), read_only=True) as con:
        assert con.execute("select count(*) from analyst.golden_customers").fetchone() == (golden,)


def test_serving_again_replaces_every_table_and_drops_those_spark_does_not_have(world):
    path = str(world.home.warehouse)
    with duckdb.connect(path) as con:
        con.execute("create table intermediate.int_identity_edge_screening as select 1 as edge")
        con.execute("delete from marts.golden_customers")
    served = serve_warehouse(world.home, world.spark)
    assert served.dropped == ["intermediate.int_identity_edge_screening"]
    assert served.own_columns == sorted(ENGINE_SPECIFIC)
    assert served.tables["marts.golden_customers"] == world.spark.table("marts.golden_customers").count() > 20
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("select count(*) from marts.golden_customers").fetchone() == (
            served.tables["marts.golden_customers"],
        )
        assert "int_identity_edge_screening" not in {
            name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()
        }


def test_rows_cross_in_batches_of_at_most_a_spark_arrow_batch(world):
    spark = world.spark
    limit = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch"))
    frame = spark.range(0, 3 * limit + 7, numPartitions=2)  # two partitions of 1.5 batches each
    batches = list(arrow_stream(frame))
    assert [batch.num_rows for batch in batches] == [limit, limit // 2 + 3, limit, limit // 2 + 4]
    assert [value for batch in batches for value in batch.column("id").to_pylist()] == list(range(3 * limit + 7))
