"""The person out of a Spark warehouse: the tables a Spark build keeps under `$TESSERA_HOME/spark/warehouse`.

A Spark build serves its tables into the DuckDB working file, which `tessera.erasure.warehouse` rewrites, but
Spark keeps its own copy: staging between incremental runs, the appended id history, and every other table
until the next build replaces it. Each table gets the same rule as DuckDB's: a row goes when one of its text
columns, trimmed and lower-cased, is a value that names the person. Views hold no rows.

Parquet tables have no DELETE. A table that holds a row of the person is rewritten whole. The rows it keeps
go to a scratch table first, because Spark cannot overwrite a table while it reads it. Then the scratch rows
go back with a static `insert overwrite`, which replaces every partition. A dynamic overwrite would leave a
partition that held only the person's rows as it was. Spark deletes the table's old files, so none of the
deleted rows stays on the disk. A scratch table left by an interrupted erasure holds the table's rows without
the person's, complete (Spark enters a table it creates from a query in the metastore only after writing it):
the next erasure puts it back first.

The metastore (Derby, under `$TESSERA_HOME/spark`) admits one process: while a Spark build runs, erasing waits
for it, as on DuckDB (`WarehouseBusy`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tessera.erasure.resolve import ErasurePlan
from tessera.erasure.warehouse import WarehouseBusy, WarehouseErasure
from tessera.home import TesseraHome

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

#: The prefix of the scratch table a rewrite keeps a table's remaining rows in (one at a time).
SCRATCH = "tessera_erasing__"
_TOKENS = "tessera_erasure_tokens"


def has_spark_warehouse(home: TesseraHome) -> bool:
    """Whether a Spark build ever ran in this home (its metastore is there)."""
    from tessera.spark import spark_dir

    return (spark_dir(home) / "metastore_db").is_dir()


def erase_from_spark(home: TesseraHome, plan: ErasurePlan) -> WarehouseErasure:
    """Delete the person from every table of this home's Spark warehouse; nothing when there is none."""
    if not has_spark_warehouse(home):
        return WarehouseErasure()
    from tessera.spark import spark_dir, spark_session

    try:
        spark = spark_session(home)
        databases = spark.catalog.listDatabases()
    except Exception as exc:
        raise WarehouseBusy(
            f"cannot erase from the Spark warehouse under {spark_dir(home)}: its metastore did not open (a Spark "
            f"build still running?). Serve the request again once it has finished. Spark said: {exc}"
        ) from exc
    return delete_person(spark, plan, [database.name for database in databases])


def delete_person(spark: SparkSession, plan: ErasurePlan, databases: list[str]) -> WarehouseErasure:
    """Rewrite every table of `databases` that holds a row naming the person, without those rows."""
    from pyspark.sql.types import StringType

    done = WarehouseErasure()
    tokens = sorted(plan.exact_tokens())
    spark.createDataFrame([(token,) for token in tokens], "token string").createOrReplaceTempView(_TOKENS)
    overwrite_mode = spark.conf.get("spark.sql.sources.partitionOverwriteMode", "static")
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "static")
    try:
        for database in databases:
            for table in spark.catalog.listTables(database):
                if table.isTemporary or table.tableType == "VIEW" or table.name.startswith(SCRATCH):
                    continue
                _finish_interrupted(spark, database, table.name)
                name = f"`{database}`.`{table.name}`"
                columns = [f.name for f in spark.table(name).schema.fields if isinstance(f.dataType, StringType)]
                if not columns:
                    continue
                # A NULL column names nobody: `coalesce` keeps `not (… in …)` from dropping such rows.
                names_person = " or ".join(
                    f"coalesce(lower(trim(`{c}`)) in (select token from {_TOKENS}), false)" for c in columns
                )
                deleted = spark.sql(f"select count(*) from {name} where {names_person}").first()[0]
                if deleted:
                    _rewrite(spark, database, table.name, f"not ({names_person})")
                    done.rows[f"{database}.{table.name}"] = deleted
    finally:
        spark.conf.set("spark.sql.sources.partitionOverwriteMode", overwrite_mode)
        spark.catalog.dropTempView(_TOKENS)
    if done.rows:
        log.info("erased %d rows from %d Spark tables", done.total, len(done.rows))
    return done


def _rewrite(spark: SparkSession, database: str, table: str, keep: str) -> None:
    """Replace a table's rows with those matching `keep`, through a parquet scratch table in its database."""
    name, scratch = f"`{database}`.`{table}`", f"`{database}`.`{SCRATCH}{table}`"
    spark.sql(f"create table {scratch} using parquet as select * from {name} where {keep}")
    spark.sql(f"insert overwrite table {name} select * from {scratch}")
    spark.sql(f"drop table {scratch}")


def _finish_interrupted(spark: SparkSession, database: str, table: str) -> None:
    """Put back the rows an interrupted rewrite of `table` kept in its scratch table (see the module doc)."""
    if spark.catalog.tableExists(f"{SCRATCH}{table}", database):
        log.warning("finishing an interrupted erasure of %s.%s", database, table)
        name, scratch = f"`{database}`.`{table}`", f"`{database}`.`{SCRATCH}{table}`"
        spark.sql(f"insert overwrite table {name} select * from {scratch}")
        spark.sql(f"drop table {scratch}")
