"""The Python functions dbt's SQL calls on Spark, registered on the session Tessera's dbt runs in.

The Spark twin of `duckdb_functions.py`: the same `tessera_*` names over the same Python functions
(`phone_numbers`, `web_events`), so a phone number or a user agent reads the same on both engines. They are
Arrow UDFs (`pyspark.sql.functions.arrow_udf`): Spark hands them whole Arrow batches, and the functions
parse each distinct value once, as on DuckDB. `tessera/spark.py` registers them when it makes the session;
the dbt macros in `macros/normalize/` and `macros/enrichment/` are the only callers.

One more function serves the lake's source views (`macros/lake/create_lake_source_views.sql`):
`tessera_visible_lake_batches(folder)` lists a stream folder's visible batches with the time each became
visible, by the rule the PostgreSQL loader applies (`connectors.lake.is_visible`,
`tessera.warehouse_load.visible_at`), because Spark's SQL cannot read the `_`-prefixed marker files, and with
the files that make each batch (`connectors.lake.batch_files`: on object storage those its `_SUCCESS` lists),
which the views read through the lake's data source (`transforms/spark_lake.py`, registered here too).
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from transforms.enrichment.sql_functions import FUNCTIONS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: What `tessera_visible_lake_batches` returns: (batch_id, visible_at as `YYYY-MM-DD HH:MM:SS.ffffff` UTC, the
#: names of the batch's Parquet files in its folder).
VISIBLE_BATCHES_TYPE = "array<struct<batch_id: string, visible_at: string, files: array<string>>>"


def visible_lake_batches(folder: str | None) -> list[tuple[str, str, list[str]]]:
    """The visible batches of one stream folder, in batch order, with when each became visible (UTC) and the
    files that make it: those its `_SUCCESS` lists on object storage, else every Parquet file in its folder."""
    from connectors.lake import BATCH_PREFIX, batch_files, batch_ids
    from connectors.lake_storage import lake_path
    from tessera.warehouse_load import visible_at

    if folder is None:
        return []
    stream = lake_path(folder)  # a folder, or an `s3://` URL whose scheme `Path` would mangle
    batches = []
    for batch in batch_ids(stream):
        at = visible_at(stream / f"{BATCH_PREFIX}{batch}")
        if at is not None:
            files = [part.name for part in batch_files(stream / f"{BATCH_PREFIX}{batch}")]
            batches.append((batch, at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), files))
    return batches


def register_functions(spark: SparkSession) -> None:
    """Register every function of `sql_functions.FUNCTIONS` (and the lake's batch listing and data source) on
    `spark`."""
    from pyspark.sql.functions import ArrowUDFType, arrow_udf, udf

    from transforms.spark_lake import LakeFiles

    for f in FUNCTIONS:
        spark.udf.register(f.name, arrow_udf(f.fn, "string", ArrowUDFType.SCALAR))
    spark.udf.register(
        "tessera_visible_lake_batches", udf(visible_lake_batches, VISIBLE_BATCHES_TYPE).asNondeterministic()
    )
    spark.dataSource.register(LakeFiles)
