"""Load the Parquet lake into PostgreSQL, so the dbt project can build there as it does on DuckDB.

On DuckDB the dbt sources are views over the lake's Parquet files. PostgreSQL cannot read them, so every
landed stream (`lake/raw/<source>/<stream>/batch_id=*/*.parquet`) becomes a table `<source>.<stream>` with the
columns of its landing contract (`connectors/contract.py`), then `_visible_at`: the same names the dbt sources
resolve to.

- **Visible batches only**: a batch is loaded once it is visible (`connectors.lake.is_visible`: published
  with `_SUCCESS`, and checked or released; docs/landing-contract.md). Its rows carry `_visible_at`, the `at`
  of its `_RELEASED.json` when an operator released it, else of its `_CHECKED.json`: when it became visible,
  which incremental staging reads. A batch that stops being visible (a re-run not yet checked, or held) is
  deleted from the table until it is visible again.

- **Bulk**: each Parquet file is streamed into the table with `COPY … FROM STDIN` (Arrow writes the CSV),
  never row by row.
- **A mirror of the visible lake, batch by batch**: a ledger (`tessera_lake.loaded_batches`) remembers which
  batches are in the tables, a fingerprint of their files and their `_visible_at`. A batch that is new, whose
  folder changed (an interval re-run replaces it) or that became visible at another time is deleted from the
  table and copied again; a batch that left the lake (a re-run that found nothing) or is no longer visible is
  deleted; an unchanged batch is left alone. Loading twice therefore gives the same tables.
- **One transaction per stream**: a reader (dbt) sees a stream before or after a load, never half of it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from connectors.contract import VISIBLE_AT_COLUMN, StreamContract
from connectors.lake import (
    BATCH_PREFIX,
    CHECKED,
    RELEASED,
    batch_files,
    batch_ids,
    batch_state,
    is_visible,
    open_parquet,
    read_marker,
    stream_dir,
)
from connectors.lake_storage import LakePath, is_local
from connectors.registry import registry
from tessera.home import TesseraHome

log = logging.getLogger(__name__)

#: Where the ledger of loaded batches lives in the database.
LEDGER_SCHEMA = "tessera_lake"
LEDGER_TABLE = "loaded_batches"
_COPY_CHUNK_ROWS = 20_000


class WarehouseLoadError(RuntimeError):
    """A stream could not be loaded; the message names the file or database and what to do."""


@dataclass(frozen=True)
class PostgresSettings:
    """Where the PostgreSQL warehouse is: the `TESSERA_PG_*` variables the dbt profile reads too."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    dbname: str = "tessera"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PostgresSettings:
        env = os.environ if environ is None else environ
        port = env.get("TESSERA_PG_PORT", str(cls.port))
        try:
            port_number = int(port)
        except ValueError:
            raise WarehouseLoadError(f"TESSERA_PG_PORT must be a port number, got {port!r}") from None
        return cls(
            host=env.get("TESSERA_PG_HOST", cls.host),
            port=port_number,
            user=env.get("TESSERA_PG_USER", cls.user),
            password=env.get("TESSERA_PG_PASSWORD", cls.password),
            dbname=env.get("TESSERA_PG_DBNAME", cls.dbname),
        )

    def describe(self) -> str:
        return f"database {self.dbname!r} at {self.host}:{self.port} as {self.user!r}"


@dataclass
class StreamLoad:
    """What one load did to one stream's table."""

    source: str
    stream: str
    loaded: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    rows_loaded: int = 0
    #: Batches in the lake that are not visible (being written, not yet checked, or held): not loaded.
    invisible: list[str] = field(default_factory=list)

    @property
    def table(self) -> str:
        return f"{self.source}.{self.stream}"

    def summary(self) -> str:
        return (
            f"{self.table}: {len(self.loaded)} batches loaded ({self.rows_loaded} rows), "
            f"{len(self.removed)} removed, {self.unchanged} unchanged, {len(self.invisible)} not visible"
        )


def load_lake(home: TesseraHome, settings: PostgresSettings | None = None) -> list[StreamLoad]:
    """Bring every landed stream's table in PostgreSQL up to date with the lake; one result per stream."""
    import psycopg2

    settings = settings or PostgresSettings.from_env()
    try:
        conn = psycopg2.connect(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password or None,
            dbname=settings.dbname,
            application_name="tessera-warehouse-load",
        )
    except psycopg2.OperationalError as exc:
        raise WarehouseLoadError(
            f"cannot connect to PostgreSQL {settings.describe()}: {str(exc).strip()}. "
            "Create the database or point TESSERA_PG_HOST/_PORT/_USER/_PASSWORD/_DBNAME at one."
        ) from None
    try:
        _ensure_ledger(conn)
        return [_load_stream(conn, home.lake, contract) for contract in registry().streams]
    finally:
        conn.close()


def postgres_type(arrow_type: pa.DataType) -> str:
    """The column type a contract's Arrow type gets in PostgreSQL (the dbt sources declare the same)."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "varchar"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp with time zone" if arrow_type.tz else "timestamp"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_int64(arrow_type):
        return "bigint"
    raise WarehouseLoadError(f"the landing contract uses {arrow_type}, which has no PostgreSQL type here; add one")


def batch_fingerprint(folder: LakePath) -> str:
    """Identifies one version of a batch folder: its part files' names, sizes and modification times (on
    object storage, their entity tags). A re-run publishes new files, so any re-landing changes it."""
    digest = hashlib.sha256()
    if not is_local(folder):
        listing = {Path(entry["name"]).name: entry for entry in folder.fs.ls(folder.path, detail=True)}
        for part in batch_files(folder):
            entry = listing.get(part.name, {})
            digest.update(f"{part.name}\0{entry.get('size')}\0{entry.get('ETag')}\n".encode())
        return digest.hexdigest()
    for part in batch_files(folder):
        stat = part.stat()
        digest.update(f"{part.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def visible_at(folder: LakePath) -> datetime | None:
    """When a batch became visible, None while it is not (`connectors.lake.is_visible`): the `at` of its
    `_RELEASED.json` if an operator released it, else of its `_CHECKED.json`. A naive `at` is taken as UTC."""
    if not is_visible(folder):
        return None
    marker = RELEASED if batch_state(folder) == "released" else CHECKED
    path = folder / marker
    try:
        at = (read_marker(folder, marker) or {}).get("at")
        moment = datetime.fromisoformat(str(at))
    except (ValueError, TypeError, AttributeError) as exc:
        raise WarehouseLoadError(
            f"{path}: the marker needs an ISO-8601 `at` (when the batch became visible), got an unreadable one "
            f"({exc}); the checks write it (docs/landing-contract.md)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ensure_ledger(conn) -> None:
    with conn, conn.cursor() as cur:
        cur.execute(f"create schema if not exists {_quote(LEDGER_SCHEMA)}")
        cur.execute(
            f"""
            create table if not exists {_quote(LEDGER_SCHEMA)}.{_quote(LEDGER_TABLE)} (
                source varchar not null,
                stream varchar not null,
                batch_id varchar not null,
                fingerprint varchar not null,
                row_count bigint not null,
                loaded_at timestamp with time zone not null default now(),
                primary key (source, stream, batch_id)
            )
            """
        )
        # Ledgers written before batches had to be visible lack it: their batches load again once.
        cur.execute(
            f"alter table {_quote(LEDGER_SCHEMA)}.{_quote(LEDGER_TABLE)} "
            "add column if not exists visible_at timestamp with time zone"
        )


def _table_columns(contract: StreamContract) -> list[tuple[str, str]]:
    """The table's columns and their PostgreSQL types: the contract's, then `_visible_at`."""
    visible = VISIBLE_AT_COLUMN.to_arrow()
    return [(f.name, postgres_type(f.type)) for f in contract.schema] + [(visible.name, postgres_type(visible.type))]


def _ensure_table(cur, contract: StreamContract) -> bool:
    """Create the stream's table (or add columns the contract gained); True when it had to be created."""
    schema, table = _quote(contract.source), _quote(contract.stream)
    cur.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
        (contract.source, contract.stream),
    )
    existed = cur.fetchone() is not None
    cur.execute(f"create schema if not exists {schema}")
    columns = _table_columns(contract)
    cur.execute(f"create table if not exists {schema}.{table} ({', '.join(f'{_quote(n)} {t}' for n, t in columns)})")
    for name, sql_type in columns:
        cur.execute(f"alter table {schema}.{table} add column if not exists {_quote(name)} {sql_type}")
    cur.execute(f"create index if not exists {_quote(contract.stream + '__batch_id')} on {schema}.{table} (_batch_id)")
    return not existed


def _load_stream(conn, lake: Path, contract: StreamContract) -> StreamLoad:
    result = StreamLoad(contract.source, contract.stream)
    folder = stream_dir(lake, "raw", contract.source, contract.stream)
    landed = {batch: folder / f"{BATCH_PREFIX}{batch}" for batch in batch_ids(folder)}
    moments = {batch: visible_at(path) for batch, path in landed.items()}
    visible = {batch: (landed[batch], at) for batch, at in moments.items() if at is not None}
    result.invisible = sorted(set(landed) - set(visible))
    ledger = f"{_quote(LEDGER_SCHEMA)}.{_quote(LEDGER_TABLE)}"
    target = f"{_quote(contract.source)}.{_quote(contract.stream)}"
    with conn, conn.cursor() as cur:
        # One loader per stream at a time; readers keep reading the last committed state.
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"tessera-load:{contract.name}",))
        if _ensure_table(cur, contract):
            cur.execute(f"delete from {ledger} where source = %s and stream = %s", (contract.source, contract.stream))
        cur.execute(
            f"select batch_id, fingerprint, visible_at from {ledger} where source = %s and stream = %s",
            (contract.source, contract.stream),
        )
        known = {batch: (fingerprint, at) for batch, fingerprint, at in cur.fetchall()}
        for batch in sorted(set(known) - set(visible)):
            cur.execute(f"delete from {target} where _batch_id = %s", (batch,))
            cur.execute(
                f"delete from {ledger} where source = %s and stream = %s and batch_id = %s",
                (contract.source, contract.stream, batch),
            )
            result.removed.append(batch)
        for batch, (batch_folder, at) in sorted(visible.items()):
            fingerprint = batch_fingerprint(batch_folder)
            if known.get(batch) == (fingerprint, at):
                result.unchanged += 1
                continue
            cur.execute(f"delete from {target} where _batch_id = %s", (batch,))
            rows = sum(_copy_file(cur, target, contract, batch, part, at) for part in batch_files(batch_folder))
            cur.execute(
                f"""
                insert into {ledger} (source, stream, batch_id, fingerprint, row_count, visible_at)
                values (%s, %s, %s, %s, %s, %s)
                on conflict (source, stream, batch_id)
                do update set fingerprint = excluded.fingerprint, row_count = excluded.row_count,
                    visible_at = excluded.visible_at, loaded_at = now()
                """,
                (contract.source, contract.stream, batch, fingerprint, rows, at),
            )
            result.loaded.append(batch)
            result.rows_loaded += rows
            log.info(
                "loaded batch %s of %s into %s: %d rows",
                batch,
                contract.name,
                result.table,
                rows,
                extra={"source": contract.source, "stream": contract.stream, "batch_id": batch, "rows": rows},
            )
        if result.loaded or result.removed:
            cur.execute(f"analyze {target}")
    if result.invisible:
        log.info(
            "%s: %d batches in the lake are not visible yet (or held), so not loaded: %s",
            contract.name,
            len(result.invisible),
            ", ".join(f"{b} ({batch_state(landed[b])})" for b in result.invisible[:10]),
            extra={"source": contract.source, "stream": contract.stream},
        )
    log.info(result.summary(), extra={"source": contract.source, "stream": contract.stream})
    return result


def _copy_file(cur, target: str, contract: StreamContract, batch: str, path: Path, at: datetime) -> int:
    """COPY one Parquet part file into the table, with `_visible_at` = `at`; its rows must belong to the
    folder's batch."""
    import psycopg2

    try:
        table = _conform(open_parquet(path).read(), contract.schema)
    except (pa.ArrowException, OSError) as exc:
        raise WarehouseLoadError(f"cannot read {path} as {contract.name} (landing contract): {exc}") from None
    if table.num_rows == 0:
        return 0
    batches = pc.unique(table.column("_batch_id")).to_pylist()
    if batches != [batch]:
        raise WarehouseLoadError(
            f"{path}: rows carry _batch_id {batches}, but the file is in the folder of batch {batch!r}; "
            "every row of a batch folder must name that batch (docs/landing-contract.md)"
        )
    visible = VISIBLE_AT_COLUMN.to_arrow()
    table = table.append_column(visible.name, pa.repeat(pa.scalar(at, visible.type), table.num_rows))
    columns = ", ".join(_quote(name) for name in table.column_names)
    try:
        cur.copy_expert(f"copy {target} ({columns}) from stdin with (format csv)", _CsvStream(table))
    except psycopg2.Error as exc:
        raise WarehouseLoadError(f"loading {path} into {target} failed: {str(exc).strip()}") from None
    return table.num_rows


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The file's rows in the contract's columns and types: a column an older file lacks is NULL
    (as `union_by_name` reads it on DuckDB), and columns outside the contract are left out."""
    arrays = []
    for f in schema:
        if f.name in table.column_names:
            column = table.column(f.name)
            arrays.append(column if column.type == f.type else column.cast(f.type))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema([pa.field(f.name, f.type) for f in schema]))


class _CsvStream(io.RawIOBase):
    """A file-like view of an Arrow table as CSV, written chunk by chunk as COPY reads it.

    Arrow quotes every string and writes NULL as an empty unquoted field, which is exactly how
    PostgreSQL's CSV format tells NULL from the empty string."""

    def __init__(self, table: pa.Table):
        self._chunks: Iterator[pa.RecordBatch] = iter(table.to_batches(max_chunksize=_COPY_CHUNK_ROWS))
        self._buffer = bytearray()
        self._options = pa_csv.WriteOptions(include_header=False)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            sink = io.BytesIO()
            pa_csv.write_csv(chunk, sink, self._options)
            self._buffer += sink.getvalue()
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


if __name__ == "__main__":
    # `python -m tessera.warehouse_load`: load $TESSERA_HOME's lake into the TESSERA_PG_* database, for
    # analysts who then run dbt themselves (`dbt build --target postgres` in dbt_project/).
    from tessera.home import tessera_home

    logging.basicConfig(level=logging.WARNING)
    for stream_load in load_lake(tessera_home()):
        print(stream_load.summary())
