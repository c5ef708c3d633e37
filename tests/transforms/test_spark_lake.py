"""How the `tessera_lake_files` data source reads one lake file (transforms/spark_lake.py): as the declared columns, in
Arrow batches of exactly the schema Spark checks them against, from a folder or a bucket."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import BooleanType, DecimalType, LongType, StringType, StructType, TimestampType

from transforms.spark_lake import read_lake_file

SCHEMA = (
    StructType()
    .add("order_id", StringType())
    .add("total", DecimalType(18, 2))
    .add("quantity", LongType())
    .add("placed_at", TimestampType())
    .add("gift", BooleanType())
    .add("note", StringType())
)
#: A file written before `note` was in the contract, with an `int32` quantity and a column the contract lacks.
OLDER_FILE = pa.table(
    {
        "placed_at": pa.array([datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
        "order_id": ["o1", "o2"],
        "quantity": pa.array([3, None], pa.int32()),
        "total": pa.array([Decimal("12.50"), Decimal("0.99")], pa.decimal128(18, 2)),
        "gift": [True, False],
        "legacy": ["x", "y"],
    }
)


def _rows(location: str) -> list[dict]:
    batches = list(read_lake_file(location, SCHEMA))
    assert all(batch.schema.equals(to_arrow_schema(SCHEMA, timezone="UTC")) for batch in batches)
    return pa.Table.from_batches(batches, schema=to_arrow_schema(SCHEMA, timezone="UTC")).to_pylist()


@pytest.mark.parametrize("where", ["folder", pytest.param("bucket", marks=pytest.mark.integration)])
def test_a_file_is_read_as_the_declared_columns(where, tmp_path, request):
    lake = tmp_path if where == "folder" else request.getfixturevalue("s3_lake")
    part = lake / "raw" / "pos" / "transactions" / "batch_id=b1" / "part-00000.parquet"
    part.parent.mkdir(parents=True, exist_ok=True)
    with part.open("wb") as sink:
        pq.write_table(OLDER_FILE, sink)
    assert _rows(str(part)) == [
        {
            "order_id": "o1",
            "total": Decimal("12.50"),
            "quantity": 3,
            "placed_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "gift": True,
            "note": None,
        },
        {"order_id": "o2", "total": Decimal("0.99"), "quantity": None, "placed_at": None, "gift": False, "note": None},
    ]


def test_a_column_that_breaks_the_contract_fails_naming_the_file(tmp_path):
    part = tmp_path / "part-00000.parquet"
    pq.write_table(OLDER_FILE.set_column(2, "quantity", pa.array(["three", "4"])), part)
    with pytest.raises(ValueError, match=r"part-00000\.parquet: column quantity holds string"):
        _rows(str(part))
