"""The project's dbt Python models' inputs and results as pandas, whichever engine runs them.

`dbt.ref()` gives a DuckDB relation on DuckDB and a Spark DataFrame on Spark (tessera/spark_python_models.py).
The models' numerical code (transforms/predict) reads pandas, and must read the same values on both: DuckDB
hands `timestamp with time zone` as UTC-aware datetimes and decimals as floats, Spark its session-zone (UTC)
`timestamp` as naive datetimes and decimals as `Decimal` objects. `to_pandas` gives DuckDB's forms on both.
A result goes back through Arrow (`for_warehouse`): Spark infers no types from an empty pandas frame, and Arrow
keeps pandas' own (nullable integers, UTC timestamps) on both engines.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def to_pandas(relation: Any) -> pd.DataFrame:
    """A model input (a DuckDB relation or a Spark DataFrame) as pandas, typed as DuckDB types it."""
    if not hasattr(relation, "toPandas"):
        return relation.df()
    from pyspark.sql.types import DecimalType, TimestampType

    frame = relation.toPandas()
    for field in relation.schema.fields:
        if isinstance(field.dataType, TimestampType):  # the session's zone is UTC (tessera/spark.py)
            frame[field.name] = pd.to_datetime(frame[field.name]).dt.tz_localize("UTC")
        elif isinstance(field.dataType, DecimalType):
            frame[field.name] = frame[field.name].astype("float64")
    return frame


def for_warehouse(session: Any, frame: pd.DataFrame) -> Any:
    """A model's pandas result as the engine's `session` stores it: as is on DuckDB, a Spark DataFrame made
    through Arrow on Spark."""
    if not hasattr(session, "createDataFrame"):
        return frame
    import pyarrow as pa

    return session.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False))
