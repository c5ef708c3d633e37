"""Splink on Spark: where `scoring.score(..., spark=session)` builds and scores the candidate pairs.

Those two steps grow with the pairs; everything sized by the records (their preparation, the fit, the
blocking plan, the household share) stays in DuckDB, and the prepared tables reach Spark as Arrow. Scores
must not depend on the engine, so three things are taken care of here:

- **One dialect for the model.** A model file holds its SQL as it was trained: DuckDB's (`sql_dialect`
  says so), for the shipped model and every fit in a home alike. Splink translates none of a custom level's
  SQL, and sqlglot alone writes what Spark cannot run (`&&` for `list_has_any`, `JAROWINKLER_SIMILARITY`),
  so `in_spark_dialect()` translates the conditions and blocking rules with sqlglot and maps the rest.
- **DuckDB's own similarity functions.** Splink's jar (`similarity_jar_location()`, in `spark.jars`;
  `SparkAPI` registers its classes with `registerJavaFunction`) has a Jaro-Winkler that counts three
  out-of-order characters as 1.5 transpositions where DuckDB rounds down to 1: `amanda`/`amnda` is 0.876
  there and 0.902 in DuckDB, and about 0.7 % of one- or two-typo variants of common names and street lines
  fall on the other side of one of the model's thresholds (0.8, 0.88, 0.9). So `jaro_winkler_similarity` and
  `damerau_levenshtein` (the jar's agrees at the model's "one typo", but one definition is simpler to trust)
  run on Spark as Arrow UDFs that call DuckDB's functions on each batch: the functions the model was
  trained with.
- **A session of its own.** `spark_scratch()` works in `spark.newSession()`: Splink's views and our
  functions stay out of the caller's session (dbt's), and the tables Splink keeps (`persist`) are
  uncached when scoring is done.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: DuckDB functions the model's SQL calls that Spark lacks (or has in another form): their name on Spark,
#: where an Arrow UDF evaluates DuckDB's own function, and their result type.
DUCKDB_FUNCTIONS: dict[str, tuple[str, str, pa.DataType]] = {
    "jaro_winkler_similarity": ("tessera_jaro_winkler_similarity", "double", pa.float64()),
    "damerau_levenshtein": ("tessera_damerau_levenshtein", "bigint", pa.int64()),
}


def spark_sql(sql: str) -> str:
    """One SQL condition or blocking rule of a model, from DuckDB's dialect into Spark's."""
    return sqlglot.parse_one(sql, read="duckdb").transform(_spark_node).sql(dialect="spark")


def _spark_node(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.JarowinklerSimilarity):
        name = DUCKDB_FUNCTIONS["jaro_winkler_similarity"][0]
        return exp.Anonymous(this=name, expressions=[node.this, node.expression])
    if isinstance(node, exp.Anonymous) and node.name.lower() in DUCKDB_FUNCTIONS:
        return exp.Anonymous(this=DUCKDB_FUNCTIONS[node.name.lower()][0], expressions=node.expressions)
    if isinstance(node, exp.ArrayOverlaps):  # sqlglot writes Spark's `&&`, which is not for arrays
        return exp.Anonymous(this="arrays_overlap", expressions=[node.this, node.expression])
    if isinstance(node, exp.DateDiff) and node.unit is not None and node.unit.name.lower() == "day":
        # DuckDB counts day boundaries crossed; so does Spark's two-argument datediff(end, start), in any time zone.
        return exp.Anonymous(this="datediff", expressions=[node.this, node.expression])
    return node


def in_spark_dialect(settings: dict[str, Any]) -> dict[str, Any]:
    """Splink settings whose SQL (written for DuckDB) runs on Spark with the same results."""
    settings = deepcopy(settings)
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level["sql_condition"].strip().upper() != "ELSE":
                level["sql_condition"] = spark_sql(level["sql_condition"])
    settings["blocking_rules_to_generate_predictions"] = [
        spark_sql(rule)
        if isinstance(rule, str)
        else {**rule, "blocking_rule": spark_sql(rule["blocking_rule"]), "sql_dialect": "spark"}
        for rule in settings["blocking_rules_to_generate_predictions"]
    ]
    settings["sql_dialect"] = "spark"
    return settings


@contextmanager
def spark_scratch(spark: SparkSession) -> Iterator[SparkSession]:
    """A session of its own on `spark`'s context, with DuckDB's similarity functions; what Splink cached in
    it is uncached afterwards (Spark shares its cache between the sessions of one context)."""
    from pyspark.sql.functions import arrow_udf

    own = spark.newSession()
    for duckdb_name, (name, spark_type, arrow_type) in DUCKDB_FUNCTIONS.items():
        own.udf.register(name, arrow_udf(_duckdb_function(duckdb_name, arrow_type), spark_type))
    try:
        yield own
    finally:
        for table in own.catalog.listTables():
            if table.isTemporary:
                if own.catalog.isCached(table.name):
                    own.catalog.uncacheTable(table.name)
                own.catalog.dropTempView(table.name)


def _duckdb_function(function: str, arrow_type: pa.DataType):
    """DuckDB's `function` of two columns as a scalar Arrow UDF (its type hints say so to Spark)."""

    def evaluate(left: pa.Array, right: pa.Array) -> pa.Array:
        batch = pa.table({"l": left, "r": right})
        result = _worker_duckdb().from_arrow(batch).project(f"{function}(l, r)").to_arrow_table()
        return result.column(0).combine_chunks().cast(arrow_type)

    return evaluate


@functools.cache
def _worker_duckdb() -> duckdb.DuckDBPyConnection:
    """One single-threaded DuckDB per worker process: a batch keeps its row order, and Spark owns the cores."""
    return duckdb.connect(config={"threads": 1})


def copy_to_spark(cur: duckdb.DuckDBPyConnection, spark: SparkSession, table: str) -> None:
    """A table of the DuckDB scratch database as a temporary view of the same name on Spark (through Arrow)."""
    rows = cur.table(table).to_arrow_table()
    if rows.num_rows == 0:  # DuckDB gives an empty result no chunk, which Spark cannot read (no changed records)
        rows = rows.schema.empty_table()
    spark.createDataFrame(rows).createOrReplaceTempView(table)


def spark_api(spark: SparkSession):
    """Splink's Spark backend for a local or small session.

    `persist` keeps each of Splink's intermediate tables in executor memory (spilling to disk) rather than
    writing Parquet to a checkpoint folder, which Splink's default needs and which is global to the Spark
    context; `spark_scratch` uncaches them when done. Splink repartitions its big tables to half of
    `spark.sql.shuffle.partitions` (2 on Tessera's `local[2]`, so 1) unless told: the default parallelism
    (the cores: 2 on `local[2]`) keeps every core busy instead.
    """
    from splink import SparkAPI

    return SparkAPI(
        spark_session=spark,
        break_lineage_method="persist",
        num_partitions_on_repartition=spark.sparkContext.defaultParallelism,
    )
