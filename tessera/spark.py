"""The Spark session Tessera's dbt runs in on the `spark` target (dbt-spark, `method: session`).

dbt-spark's session method runs every statement on `SparkSession.builder.getOrCreate()`: the session already
running in the process, if there is one. `run_dbt(..., target="spark")` therefore makes this session first,
so dbt builds with Tessera's settings and functions rather than a bare default session:

- **master** from `TESSERA_SPARK_MASTER` (default `local[2]`): a local session for tests and small homes;
- **everything under the home**: `spark.sql.warehouse.dir` (the warehouse's tables) and the Derby metastore
  (`javax.jdo.option.ConnectionURL`, `-Dderby.system.home`, so `derby.log` too) live in `$TESSERA_HOME/spark/`,
  never in the working directory. The metastore is what keeps incremental staging tables between runs;
- **Hive support**, which dbt-spark's session method asks for too, and the **UTC** session time zone, so
  timestamps read and print as on DuckDB;
- **the Splink similarity jar** (`splink.backends.spark.similarity_jar_location()`) in `spark.jars`, whose
  functions Splink's `SparkAPI` registers (the matcher itself compares with DuckDB's functions as Arrow UDFs,
  transforms/identity/matching/spark_backend.py, so the scores equal DuckDB's);
- **the `tessera_*` SQL functions** the dbt macros call (`transforms/enrichment/spark_functions.py`): the same
  Python functions as on DuckDB, so the values are the same.

A session belongs to one home: asking for another home's session stops the running one and the JVM under it
first. Spark keeps one session, and its warehouse folder, per process, and the JVM would keep the first home's
Hive metastore client on the threads that used it (a new home's `create database` then lands in the old
metastore) and its `-Dderby.system.home`; a new JVM starts clean.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tessera.home import TesseraHome

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

#: Where the session runs; `local[2]` unless `TESSERA_SPARK_MASTER` says otherwise (`local[*]`, `spark://…`).
MASTER_VARIABLE = "TESSERA_SPARK_MASTER"
DEFAULT_MASTER = "local[2]"


def spark_dir(home: TesseraHome) -> Path:
    """Where Spark keeps this home's warehouse tables and metastore."""
    return home.root / "spark"


def spark_settings(home: TesseraHome, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The session's configuration for this home (`spark.*` keys, as `SparkSession.builder.config` takes them)."""
    env = os.environ if environ is None else environ
    folder = spark_dir(home).resolve()
    metastore = folder / "metastore_db"
    settings = {
        "spark.master": env.get(MASTER_VARIABLE) or DEFAULT_MASTER,
        "spark.app.name": "tessera",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={folder / 'derby'}",
        "spark.sql.session.timeZone": "UTC",
        # Batches written before a contract column existed lack it: read them with NULL there, as DuckDB's
        # `union_by_name` does (macros/lake/create_lake_source_views.sql).
        "spark.sql.parquet.mergeSchema": "true",
        # A small local session: a few shuffle partitions rather than 200 near-empty ones.
        "spark.sql.shuffle.partitions": env.get("TESSERA_SPARK_SHUFFLE_PARTITIONS", "2"),
        "spark.ui.enabled": "false",
        # The Python models' inputs and results cross between Spark and pandas through Arrow, not row by row.
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # dbt-spark turns ANSI mode off on every statement; the session starts that way too.
        "spark.sql.ansi.enabled": "false",
    }
    jar = similarity_jar()
    if jar is not None:
        settings["spark.jars"] = jar
    return settings


def similarity_jar() -> str | None:
    """Splink's Jaro-Winkler jar for this Spark version, shipped in Splink's wheel (None without Splink)."""
    try:
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        return None
    path = similarity_jar_location()
    return path if Path(path).exists() else None


def _serves(session: SparkSession, warehouse_dir: str) -> bool:
    """Whether a running session is this home's: Spark reports its warehouse folder as a `file:` URI once it
    has run a statement, and as given before."""
    from urllib.parse import urlparse

    found = session.conf.get("spark.sql.warehouse.dir", None) or ""
    return (urlparse(found).path if found.startswith("file:") else found) == warehouse_dir


#: The warehouse folder of the home the process's JVM was started for (None before the first session).
_jvm_warehouse: str | None = None


def _stop_jvm() -> None:
    """Stop the process's Spark JVM (its session first, if one runs), so the next session starts a new one."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession()
    if running is not None:
        running.stop()
    with SparkContext._lock:
        gateway = SparkContext._gateway
        if gateway is not None:
            gateway.shutdown()
            SparkContext._gateway = None
            SparkContext._jvm = None
            process = getattr(gateway, "proc", None)  # the JVM pyspark started; it ends when its stdin closes
            if process is not None:
                process.stdin.close()
                process.wait(timeout=120)  # its Derby metastore lock is free only once it has ended


def spark_session(home: TesseraHome) -> SparkSession:
    """The process's Spark session for this home, created (or replaced, when it served another home) with
    `spark_settings`, and with the `tessera_*` functions registered."""
    from pyspark.sql import SparkSession

    from transforms.enrichment.spark_functions import register_functions

    global _jvm_warehouse
    settings = spark_settings(home)
    warehouse = settings["spark.sql.warehouse.dir"]
    running = SparkSession.getActiveSession()
    if (running is not None and not _serves(running, warehouse)) or _jvm_warehouse not in (None, warehouse):
        log.info("stopping the Spark session of another home", extra={"home": str(home.root)})
        _stop_jvm()
        running = None
    if running is None:
        # Python workers run this interpreter, which imports `transforms` and its libraries as the process does.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        for folder in ("warehouse", "derby"):
            (spark_dir(home) / folder).mkdir(parents=True, exist_ok=True)
        builder = SparkSession.builder.enableHiveSupport()
        for key, value in settings.items():
            builder = builder.config(key, value)
        log.info("starting Spark", extra={"home": str(home.root), "master": settings["spark.master"]})
        running = builder.getOrCreate()
        running.sparkContext.setLogLevel("WARN")
        _jvm_warehouse = warehouse
    register_functions(running)
    return running
