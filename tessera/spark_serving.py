"""Serving a Spark build to the DuckDB readers: its tables copied into the working warehouse file.

On the `spark` target dbt builds into Spark's warehouse (Parquet under `$TESSERA_HOME/spark/warehouse`, named by
the Derby metastore), but everything after the build reads the DuckDB working file `home.warehouse`: the golden
checks, the publication (which copies that file for readers: `tessera explain`, the report, activation, the
analysts' file) and the trainings of the matcher and the predictors. `serve_warehouse` makes that file what a
DuckDB build of the same lake would have left, with the Spark build's rows:

- **every table** of the schemas dbt builds tables in (`staging`, with the seeds, `intermediate`, `marts`,
  `segments`), each replaced whole; a table Spark does not have (one only DuckDB builds, left by an earlier
  DuckDB build) is dropped, so those schemas hold the Spark build and nothing else;
- **DuckDB's columns and types**. The engines' SQL does not give the same types (DuckDB sums integers into
  `hugeint`, averages decimals into `double`, takes date differences as `bigint`, and keeps some timestamps
  without a time zone; Spark has one kind of timestamp), and Spark puts a partition column last. So an empty
  DuckDB build of the project (`dbt build --empty`, in `$TESSERA_HOME/spark/duckdb-template/`, over the same
  lake) gives each table's columns in DuckDB's order with DuckDB's types, and Spark's rows are cast to them. A
  model that differs by engine, and so has other columns on Spark (`int_identity_resolution`: Python on
  DuckDB, portable SQL on Spark), is served with Spark's columns, its types mapped through Arrow (a Spark
  `timestamp` is UTC: `timestamp with time zone`);
- **dbt's views** (the analysts' schema, `int_identity_edges`), then built by dbt itself on the DuckDB target
  over the served tables (`dbt run --select config.materialized:view`): DuckDB's own SQL, masking included. Its
  on-run-start hook leaves the lake's source views as a DuckDB build does.

Rows cross from Spark to DuckDB as Arrow record batches, one Spark partition at a time: Spark's Python workers
turn each partition's batches into Arrow IPC (`mapInArrow`), the driver fetches the partitions one after the
other (`toLocalIterator`, without fetching the next one ahead) and DuckDB reads them as a stream. The driver
holds one partition (at most `spark.sql.files.maxPartitionBytes` of Parquet), never a whole table: a whole
table through `toArrow` ran the driver's JVM out of heap at a million rows here, where this took 14 to 32 s
(docs/warehouse-engines.md, "Serving the marts", has the measurements).

The tables are replaced in **one transaction**. Nothing reads the working file before the checks and the
publication that follow the serving, and the serving holds DuckDB's one write lock throughout; but the
trainings read that file whenever they run, so a serving that fails or is killed must leave the previous
tables whole, never half of two builds. DuckDB writes a big transaction's row groups to the file as it goes,
so this holds no table in memory (checked here: four 160 MB tables created in one transaction grew the file
before the commit, while the process stayed at DuckDB's memory limit). The views name tables, not their
columns' types, so the ones left from the last serving read the new tables until dbt replaces them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.duckdb_files import connect_or_explain
from tessera.home import TesseraHome

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

#: The schemas dbt builds tables in (dbt_project.yml: staging with the seeds, intermediate, marts, segments).
SERVED_SCHEMAS = ("staging", "intermediate", "marts", "segments")
#: The dbt models built on DuckDB rather than copied: views, whose SQL is the DuckDB build's own.
VIEW_SELECTOR = "config.materialized:view"
#: What the names of Tessera's own scratch tables start with (stitching's passes, an interrupted erasure's
#: kept rows); no model's name does.
SCRATCH_PREFIX = "tessera_"


@dataclass(frozen=True)
class ServedWarehouse:
    """What a serving wrote: rows per served table (`schema.table`), the tables served with Spark's own columns
    (a model that differs by engine), the tables it dropped, and how long it took."""

    path: Path
    tables: dict[str, int]
    own_columns: list[str]
    dropped: list[str]
    seconds: float

    def summary(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "tables": dict(self.tables),
            "own_columns": list(self.own_columns),
            "dropped": list(self.dropped),
            "seconds": self.seconds,
        }


def serve_warehouse(home: TesseraHome, spark: SparkSession | None = None) -> ServedWarehouse:
    """Replace the working DuckDB file's tables with the Spark build's, in DuckDB's shape, then build dbt's
    views over them. Call it after a successful build, in the process that holds the home's Spark session."""

    from tessera.spark import spark_session

    spark = spark or spark_session(home)
    started = time.perf_counter()
    tables = built_tables(spark)
    shape = duckdb_columns(empty_duckdb_build(home))
    con = connect_or_explain(
        home.warehouse,
        f"cannot serve the Spark build into {home.warehouse}: another process has it open (a reader of the "
        "working file, such as a training). Serve again once it is closed",
    )
    try:
        con.execute("set TimeZone = 'UTC'")  # Spark's timestamps are UTC; so are those DuckDB keeps without a zone
        con.begin()
        rows, own_columns = {}, []
        for name in tables:
            rows[name], shaped = copy_table(con, spark.table(name), name, shape.get(name))
            if not shaped:
                own_columns.append(name)
        dropped = drop_tables_not_in(con, set(tables))
        con.commit()
    finally:
        con.close()
    build_views(home)
    served = ServedWarehouse(home.warehouse, rows, own_columns, dropped, round(time.perf_counter() - started, 3))
    log.info(
        "served the Spark build to the working warehouse %s: %d tables, %d rows, in %.1fs%s%s",
        home.warehouse,
        len(rows),
        sum(rows.values()),
        served.seconds,
        f"; with Spark's own columns, which differ from DuckDB's build: {', '.join(own_columns)}"
        if own_columns
        else "",
        f"; dropped {', '.join(dropped)}, which the Spark build does not have" if dropped else "",
        extra={"home": str(home.root), "tables": len(rows), "rows": sum(rows.values())},
    )
    return served


def built_tables(spark: SparkSession) -> list[str]:
    """`schema.table` of every table (not view) in the served schemas of Spark's metastore, in name order."""
    found = []
    for schema in SERVED_SCHEMAS:
        if not spark.catalog.databaseExists(schema):
            continue
        found += [
            f"{schema}.{table.name}"
            for table in spark.catalog.listTables(dbName=schema)
            if not table.isTemporary and table.tableType != "VIEW" and not table.name.startswith(SCRATCH_PREFIX)
        ]
    return sorted(found)


def empty_duckdb_build(home: TesseraHome) -> Path:
    """Build the project on DuckDB with no rows (`dbt build --empty`, seeds loaded, no tests) in a home of its
    own beside Spark's warehouse, over this home's lake; returns its warehouse file. Its dbt artifacts stay
    there, so the next serving parses the project partially."""
    from tessera.dbt_runner import PRODUCTION_BUILD_FLAGS, run_dbt
    from tessera.spark import spark_dir

    scratch = TesseraHome(spark_dir(home) / "duckdb-template", lake_location=home.lake_location or str(home.lake))
    for leftover in (scratch.warehouse, scratch.warehouse.with_name(scratch.warehouse.name + ".wal")):
        leftover.unlink(missing_ok=True)
    run_dbt(["build", "--empty", *PRODUCTION_BUILD_FLAGS, "--exclude-resource-type", "test"], scratch)
    return scratch.warehouse


def duckdb_columns(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Each base table's columns and types in a DuckDB warehouse file, in order, by `schema.table`."""
    import duckdb

    columns: dict[str, list[tuple[str, str]]] = {}
    with duckdb.connect(str(path), read_only=True) as con:
        for schema, table, column, data_type in con.execute(
            "select c.table_schema, c.table_name, c.column_name, c.data_type"
            " from information_schema.columns as c join information_schema.tables as t"
            " using (table_catalog, table_schema, table_name)"
            " where c.table_catalog = current_database() and t.table_type = 'BASE TABLE'"
            " order by c.table_schema, c.table_name, c.ordinal_position"
        ).fetchall():
            columns.setdefault(f"{schema}.{table}", []).append((column, data_type))
    return columns


def copy_table(con, frame: DataFrame, name: str, columns: list[tuple[str, str]] | None) -> tuple[int, bool]:
    """Replace `name` in DuckDB with the frame's rows, streamed: cast to DuckDB's `columns` when the frame has
    exactly those, else as Spark has them. Returns its rows, and whether it took DuckDB's columns."""
    schema, table = name.split(".", 1)
    target = f'"{schema}"."{table}"'
    shaped = columns is not None and sorted(c for c, _ in columns) == sorted(frame.columns)
    selected = ", ".join(f'cast("{c}" as {t}) as "{c}"' for c, t in columns) if shaped else "*"
    con.execute(f'create schema if not exists "{schema}"')
    con.register("spark_table", arrow_stream(frame))
    con.execute(f"create or replace table {target} as select {selected} from spark_table")
    con.unregister("spark_table")
    ((rows,),) = con.execute(f"select count(*) from {target}").fetchall()
    return rows, shaped


def arrow_stream(frame: DataFrame) -> pa.RecordBatchReader:
    """The frame's rows as Arrow record batches, one Spark partition at a time (see the module's docstring)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import BinaryType, StructField, StructType

    zone = frame.sparkSession.conf.get("spark.sql.session.timeZone")
    schema = to_arrow_schema(frame.schema, timezone=zone)
    cells = StructType([StructField("ipc", BinaryType(), nullable=False)])

    def to_ipc(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # Runs on Spark's Python workers: each batch of the partition as one Arrow IPC stream in one binary cell.
        for batch in batches:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.schema) as writer:
                writer.write_batch(batch)
            stream = sink.getvalue()
            offsets = pa.array([0, stream.size], pa.int32()).buffers()[1]
            cell = pa.Array.from_buffers(pa.binary(), 1, [None, offsets, stream])  # the stream, not a copy
            yield pa.RecordBatch.from_arrays([cell], names=["ipc"])

    def batches() -> Iterator[pa.RecordBatch]:
        for row in frame.mapInArrow(to_ipc, cells).toLocalIterator(prefetchPartitions=False):
            with pa.ipc.open_stream(row.ipc) as reader:
                yield from reader

    return pa.RecordBatchReader.from_batches(schema, batches())


def drop_tables_not_in(con, kept: set[str]) -> list[str]:
    """Drop the base tables of the served schemas that the Spark build does not have; returns their names."""
    placeholders = ", ".join("?" for _ in SERVED_SCHEMAS)
    stale = [
        f"{schema}.{table}"
        for schema, table in con.execute(
            "select schema_name, table_name from duckdb_tables()"
            f" where database_name = current_database() and schema_name in ({placeholders}) order by all",
            list(SERVED_SCHEMAS),
        ).fetchall()
        if f"{schema}.{table}" not in kept
    ]
    for name in stale:
        schema, table = name.split(".", 1)
        con.execute(f'drop table "{schema}"."{table}"')
    return stale


def build_views(home: TesseraHome) -> None:
    """dbt's views (the analysts' schema, the identity edges' union) built by dbt on the DuckDB target over the
    served tables: DuckDB's own SQL for them, as a DuckDB build makes it."""
    from tessera.dbt_runner import run_dbt

    run_dbt(["run", "--select", VIEW_SELECTOR], home)
