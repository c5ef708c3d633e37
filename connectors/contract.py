"""The landing contract: what every stream that lands in the lake looks like.

Each source declares its streams' contracts in its own folder (`connectors/sources/<name>/`); this
module holds the vocabulary they are written in. Connectors cast to these schemas, tests check landed
files against them, and `tessera generate` writes the dbt sources and `docs/landing-contract.md` from
them. The module stays light (pyarrow loads only when a schema is asked for), because DAG files read
the registry at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class ColumnType:
    """One type of the contract, as Arrow stores it, as SQL (dbt sources) declares it, and as the docs say it."""

    arrow: str
    sql: str
    doc: str

    def to_arrow(self) -> pa.DataType:
        import pyarrow as pa

        return {
            "string": pa.string(),
            "bool": pa.bool_(),
            "int64": pa.int64(),
            "timestamp": pa.timestamp("us", tz="UTC"),
            "decimal(18,2)": pa.decimal128(18, 2),
        }[self.arrow]


#: The contract's types, by the name a column declaration uses.
TYPES: dict[str, ColumnType] = {
    "string": ColumnType("string", "varchar", "string"),
    "bool": ColumnType("bool", "boolean", "boolean"),
    "int64": ColumnType("int64", "bigint", "int64"),
    "timestamp": ColumnType("timestamp", "timestamp with time zone", "timestamp (UTC, µs)"),
    "decimal(18,2)": ColumnType("decimal(18,2)", "decimal(18,2)", "decimal(18,2)"),
}


@dataclass(frozen=True)
class Column:
    """One column of a landed stream. `pii` marks values that identify a person (masked, erased, hashed)."""

    name: str
    type: str = "string"
    required: bool = False
    pii: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name!r}: unknown type {self.type!r}; use one of {', '.join(TYPES)}")

    @property
    def column_type(self) -> ColumnType:
        return TYPES[self.type]

    def to_arrow(self) -> pa.Field:
        import pyarrow as pa

        return pa.field(self.name, self.column_type.to_arrow(), nullable=not self.required)


#: Columns every landed row carries, after the business columns.
METADATA_COLUMNS: tuple[Column, ...] = (
    Column("_batch_id", required=True, description="The lake batch the row landed in."),
    Column("_extracted_at", "timestamp", required=True, description="When the connector read the batch (UTC)."),
)
#: The original record as JSON, kept where the source had one (APIs and files).
RECORD_COLUMN = Column("_record", pii=True, description="The original record as JSON text.")

#: Added by readers, not stored: when the row's batch became visible to the transform (its `_CHECKED.json` or
#: `_RELEASED.json` marker's time; docs/landing-contract.md). The warehouse's source views carry it.
VISIBLE_AT_COLUMN = Column(
    "_visible_at",
    "timestamp",
    required=True,
    description="When the batch became visible to the transform: its checks passed, or an operator released it.",
)

#: Quarantined rows keep the original payload and say why they were refused.
QUARANTINE_COLUMNS: tuple[Column, ...] = (
    Column(
        "_record_id", description="where to find the record in the source: its id, or `file:line` for dropped files"
    ),
    Column(
        "_reason", required=True, description="why it was refused, e.g. `updatedAt is not an ISO-8601 timestamp: 'N/A'`"
    ),
    Column(
        "_record",
        required=True,
        pii=True,
        description="the original payload, unchanged (a damaged file is kept whole, base64)",
    ),
    *METADATA_COLUMNS,
)


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([c.to_arrow() for c in columns])


def quarantine_schema() -> pa.Schema:
    return arrow_schema(QUARANTINE_COLUMNS)


@dataclass(frozen=True)
class StreamContract:
    """What one landed stream looks like: its business columns, key and required fields.

    Its name is `<source>.<stream>` everywhere (Assets, dbt sources, logs); in the lake it lives
    under `raw/<source>/<stream>/`.
    """

    source: str
    stream: str
    key: str
    columns: tuple[Column, ...]
    description: str = ""
    keeps_record: bool = True

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if self.key not in names:
            raise ValueError(f"stream {self.name}: key {self.key!r} is not one of its columns")
        if len(set(names)) != len(names):
            raise ValueError(f"stream {self.name}: a column is declared twice in {names}")

    @property
    def name(self) -> str:
        return f"{self.source}.{self.stream}"

    @property
    def lake_path(self) -> str:
        return f"{self.source}/{self.stream}"

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def all_columns(self) -> tuple[Column, ...]:
        """Business columns, then the metadata columns, then `_record` where the stream keeps it."""
        return (*self.columns, *METADATA_COLUMNS, *((RECORD_COLUMN,) if self.keeps_record else ()))

    @cached_property
    def schema(self) -> pa.Schema:
        return arrow_schema(self.all_columns)


def contract_for(source: str, stream: str) -> StreamContract:
    """The contract of one registered stream (see `connectors/registry.py`)."""
    from connectors.registry import registry

    return registry().contract(source, stream)
