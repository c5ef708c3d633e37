"""A Spark data source over the lake's Parquet files, in a folder or in a bucket (`TESSERA_LAKE=s3://…`).

The Spark counterpart of `duckdb_lake.py`. Spark reads files through Hadoop, and Hadoop reads a bucket only
with the hadoop-aws jar (`s3a://`), which pyspark does not ship. This Python data source (Spark 4's
`pyspark.sql.datasource`) reads the files through the lake's own filesystem instead (`connectors.lake_storage`:
fsspec, s3fs for a bucket, credentials from the standard AWS variables that Spark's Python workers inherit), with
pyarrow, and hands Spark Arrow record batches.

It reads exactly the files it is given, so the caller decides what a batch is: the files its `_SUCCESS` lists
on object storage (`connectors.lake.batch_files`, docs/landing-contract.md), never a glob. For a lake in a
bucket, the lake hook (`macros/lake/create_lake_source_views.sql`) gives it each stream's visible batches' files
and the contract's columns (a lake in a folder stays on Spark's own, faster, Parquet reader):

    create or replace temporary view … (contact_id string, …) using tessera_lake_files options (files '["s3://…", …]')

One partition per file. Each file is read as the columns name it: a column the file lacks (written before the
contract had it) is NULL, as Spark's `mergeSchema` and DuckDB's `union_by_name` read it, and each column is
converted to the declared type, failing with the file's name when its values do not convert.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

#: The name SQL reads the data source by (`using tessera_lake_files`).
NAME = "tessera_lake_files"


class LakeFiles(DataSource):
    """Given lake Parquet files (option `files`, a JSON list of paths or URLs), read with the declared columns."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def schema(self) -> StructType:
        raise ValueError(
            f"{NAME} reads the columns it is given and infers none: declare them, "
            f"`create temporary view … (<column> <type>, …) using {NAME} options (files '[…]')`"
        )

    def reader(self, schema: StructType) -> LakeFilesReader:
        return LakeFilesReader(json.loads(self.options.get("files", "[]")), schema)


class LakeFilesReader(DataSourceReader):
    def __init__(self, files: Sequence[str], schema: StructType) -> None:
        self.files = list(files)
        self.schema = schema

    def partitions(self) -> list[InputPartition]:
        return [InputPartition(path) for path in self.files]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        return read_lake_file(partition.value, self.schema)


def read_lake_file(location: str, schema: StructType) -> Iterator[pa.RecordBatch]:
    """One lake file's rows as `schema` declares them, in Arrow batches of the schema Spark checks them
    against (`to_arrow_schema`, UTC timestamps)."""
    from connectors.lake import open_parquet
    from connectors.lake_storage import lake_path

    target = to_arrow_schema(schema, timezone="UTC")
    parquet = open_parquet(lake_path(location))
    present = [field.name for field in target if field.name in parquet.schema_arrow.names]
    for batch in parquet.iter_batches(columns=present):
        columns = []
        for field in target:
            if field.name not in present:
                columns.append(pa.nulls(batch.num_rows, field.type))
                continue
            column = batch.column(field.name)
            try:
                columns.append(column.cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(
                    f"{location}: column {field.name} holds {column.type}, which does not read as the contract's "
                    f"{field.type}: {exc}. The batch breaks the landing contract (docs/landing-contract.md)."
                ) from None
        yield pa.RecordBatch.from_arrays(columns, schema=target)
