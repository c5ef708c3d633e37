"""The profile records matching reads, and their preparation where Splink works.

Records come in one shape (`RECORD_COLUMNS`): matching-ready values from staging (folded names,
parsed birth dates, normalised streets and postcodes, canonical emails, E.164 phones).
`matching_records_sql()` reads that shape from dbt's `int_profile_records`, which unions the profile
records of every source once. Training and scoring copy the records into a private scratch
database (`scratch()`), add what the comparisons need besides the values, one table per source
stream, and run Splink there (`splink_linker()`), or on Spark over copies of those tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from transforms.identity.matching.comparisons import name_aliases

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The columns a profile record brings to matching; all but `record_key` and `source_dataset` may be null.
RECORD_COLUMNS: dict[str, str] = {
    "record_key": "varchar",  # <source>:<stream>:<record_id>
    "source_dataset": "varchar",  # <source>_<stream>: which input table the record belongs to
    "first_name": "varchar",
    "last_name": "varchar",
    "birth_date": "date",
    "street": "varchar",
    "postcode": "varchar",
    "city": "varchar",
    "email": "varchar",
    "phone": "varchar",
}


def matching_records_sql(profile_records: str) -> str:
    """The records of `profile_records` (the `int_profile_records` model: a table name or a parenthesised
    query) in matching shape: the folded forms as `RECORD_COLUMNS` names them, and `updated_at`, which
    matching itself does not read.

    `source_dataset` stays `<source>_<stream>` rather than the project's `<source>.<stream>`: Splink's
    seeded sample for the u values hashes it with the record key, so another name trains another model
    from the same records and seed, and the shipped model would no longer reproduce from its seed.
    """
    return f"""
        select
            record_key,
            source || '_' || stream as source_dataset,
            first_name_norm as first_name,
            last_name_norm as last_name,
            birth_date,
            street_norm as street,
            postcode_norm as postcode,
            city_norm as city,
            email_canonical as email,
            phone_e164 as phone,
            updated_at
        from {profile_records}
    """


def prepared_records_sql(records: str, aliases: str) -> str:
    """Records with what the comparisons need besides the values: nickname sets, house numbers, mailboxes."""
    columns = ", ".join(f"cast(r.{c} as {t}) as {c}" for c, t in RECORD_COLUMNS.items())
    return f"""
        select
            {columns},
            case when r.first_name is not null
                then coalesce(a.aliases, [cast(r.first_name as varchar)]) end as first_name_aliases,
            coalesce(a.name_group, r.first_name) as first_name_group,
            nullif(array_to_string(regexp_extract_all(r.street, '[0-9]+'), ' '), '') as street_number,
            nullif(trim(regexp_replace(regexp_replace(r.street, '[0-9]+', ' ', 'g'), '\\s+', ' ', 'g')), '')
                as street_name,
            nullif(split_part(r.email, '@', 1), '') as email_local
        from {records} as r
        left join {aliases} as a on a.name = r.first_name
    """


@contextmanager
def scratch(con: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor whose default catalog is a private in-memory database, detached afterwards.

    Splink writes its working tables into the default schema; on a warehouse connection (a dbt
    Python model's session) they go here instead of the warehouse file.
    """
    if con is None:
        own = duckdb.connect()
        try:
            yield own
        finally:
            own.close()
        return
    cursor = con.cursor()
    home = cursor.execute("select current_database()").fetchall()[0][0]
    name = f"tessera_matching_{uuid.uuid4().hex[:12]}"
    cursor.execute(f"attach ':memory:' as {name}").fetchall()
    cursor.execute(f"use {name}").fetchall()
    try:
        yield cursor
    finally:
        cursor.execute(f'use "{home}"').fetchall()
        cursor.execute(f"detach {name}").fetchall()
        cursor.close()


def load_records(
    cur: duckdb.DuckDBPyConnection, records: pa.Table | str, nicknames: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Prepare the records in the scratch database, one table per source dataset: (table, dataset) pairs."""
    aliases = name_aliases(nicknames)
    cur.register("matching_name_aliases", aliases)
    if isinstance(records, str):
        source = records
    else:
        cur.register("matching_records_in", records)
        source = "matching_records_in"
    missing = set(RECORD_COLUMNS) - set(cur.sql(f"select * from {source} limit 0").columns)
    if missing:
        raise ValueError(f"profile records lack the columns {sorted(missing)} (see RECORD_COLUMNS)")
    cur.execute(f"create table matching_records as {prepared_records_sql(source, 'matching_name_aliases')}").fetchall()
    datasets = [r[0] for r in cur.execute("select distinct source_dataset from matching_records order by 1").fetchall()]
    tables = []
    for i, dataset in enumerate(datasets):
        table = f"matching_input_{i}"
        cur.execute(
            f"create table {table} as select * exclude (source_dataset) from matching_records where source_dataset = ?",
            [dataset],
        ).fetchall()
        tables.append((table, dataset))
    return tables


def splink_linker(
    cur: duckdb.DuckDBPyConnection,
    tables: list[tuple[str, str]],
    settings: dict[str, Any],
    *,
    spark: SparkSession | None = None,
):
    """A Splink linker over the prepared tables, each named by its source dataset: in the scratch database,
    or with `spark` (a `spark_backend.spark_scratch` session) over copies of them on Spark."""
    from splink import DuckDBAPI, Linker

    if spark is None:
        db_api = DuckDBAPI(connection=cur)
    else:
        from transforms.identity.matching.spark_backend import copy_to_spark, in_spark_dialect, spark_api

        for table, _ in tables:
            copy_to_spark(cur, spark, table)
        db_api, settings = spark_api(spark), in_spark_dialect(settings)
    inputs = [db_api.register(table, dataset_display_name=dataset) for table, dataset in tables]
    if len(inputs) == 1:  # Splink links and dedupes two or more tables; one alone is deduplicated
        settings = {**settings, "link_type": "dedupe_only"}
    return Linker(inputs if len(inputs) > 1 else inputs[0], settings, log_level=None)
