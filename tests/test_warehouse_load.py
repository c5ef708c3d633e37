"""The lake loads into PostgreSQL as tables named like the dbt sources: in bulk, batch by batch, idempotently."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.contract import contract_for
from connectors.lake import BatchWriter, batch_dir
from connectors.registry import registry
from tessera.home import TesseraHome
from tessera.warehouse_load import LEDGER_SCHEMA, LEDGER_TABLE, PostgresSettings, WarehouseLoadError, load_lake
from tests.dbt.postgres_target import connect, postgres_target
from tests.sources import throwaway_postgres_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def contact(contact_id: str, batch: str, **values) -> dict:
    row = {f.name: None for f in contract_for("crm", "contacts").schema}
    row.update(contact_id=contact_id, updated_at=T0, _batch_id=batch, _extracted_at=T0, **values)
    return row


def land(home: TesseraHome, source: str, stream: str, batch: str, rows: list[dict]) -> Path | None:
    schema = contract_for(source, stream).schema
    writer = BatchWriter(batch_dir(home.lake, "raw", source, stream, batch), schema)
    writer.write(pa.Table.from_pylist(rows, schema=schema))
    return writer.commit()


@pytest.fixture
def database():
    with throwaway_postgres_database() as url, postgres_target(url) as env:
        yield env


def rows(env: dict, sql: str) -> list[tuple]:
    with connect(env) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_every_stream_becomes_a_table_with_the_contract_columns_and_the_lake_rows(home, database):
    land(home, "crm", "contacts", "b1", [contact("C1", "b1", email="", phone="07700 900123", marketing_opt_in=True)])
    land(home, "crm", "contacts", "b2", [contact("C1", "b2", email="a@x.example"), contact("C2", "b2")])
    transaction = {f.name: None for f in contract_for("pos", "transactions").schema}
    transaction.update(transaction_id="T1", total_amount=Decimal("12.30"), item_count=3, occurred_at=T0)
    land(home, "pos", "transactions", "b1", [{**transaction, "_batch_id": "b1", "_extracted_at": T0}])

    loads = {load.table: load for load in load_lake(home)}

    assert set(loads) == {c.name for c in registry().streams}
    assert loads["crm.contacts"].loaded == ["b1", "b2"] and loads["crm.contacts"].rows_loaded == 3
    for contract in registry().streams:
        columns = rows(
            database,
            "select column_name from information_schema.columns "
            f"where table_schema = '{contract.source}' and table_name = '{contract.stream}' order by ordinal_position",
        )
        assert [c for (c,) in columns] == contract.schema.names
    assert rows(
        database, "select contact_id, email, phone, marketing_opt_in, _batch_id from crm.contacts order by 5, 1"
    ) == [
        ("C1", "", "07700 900123", True, "b1"),  # the empty string stays one: only a missing value is NULL
        ("C1", "a@x.example", None, None, "b2"),
        ("C2", None, None, None, "b2"),
    ]
    assert rows(database, "select total_amount, item_count, occurred_at from pos.transactions") == [
        (Decimal("12.30"), 3, T0)
    ]
    assert rows(database, "select count(*) from web.events") == [(0,)]


def test_loading_again_changes_nothing_and_a_relanded_batch_replaces_its_rows(home, database):
    land(home, "crm", "contacts", "b1", [contact("C1", "b1"), contact("C2", "b1")])
    land(home, "crm", "contacts", "b2", [contact("C3", "b2")])
    load_lake(home)
    before = rows(database, "select * from crm.contacts order by contact_id")

    again = {load.table: load for load in load_lake(home)}
    assert again["crm.contacts"].loaded == [] and again["crm.contacts"].unchanged == 2
    assert rows(database, "select * from crm.contacts order by contact_id") == before

    land(home, "crm", "contacts", "b1", [contact("C1", "b1", email="new@x.example")])  # the interval re-ran
    relanded = {load.table: load for load in load_lake(home)}
    assert relanded["crm.contacts"].loaded == ["b1"] and relanded["crm.contacts"].unchanged == 1
    assert rows(database, "select contact_id, email, _batch_id from crm.contacts order by 1") == [
        ("C1", "new@x.example", "b1"),
        ("C3", None, "b2"),
    ]

    land(home, "crm", "contacts", "b2", [])  # a re-run that found nothing removes the batch from the lake
    emptied = {load.table: load for load in load_lake(home)}
    assert emptied["crm.contacts"].removed == ["b2"]
    assert rows(database, "select contact_id from crm.contacts") == [("C1",)]
    assert rows(database, f"select stream, batch_id, row_count from {LEDGER_SCHEMA}.{LEDGER_TABLE} order by 1, 2") == [
        ("contacts", "b1", 1)
    ]


def test_a_file_written_before_a_column_existed_loads_with_nulls(home, database):
    schema = contract_for("crm", "contacts").schema
    older = pa.schema([f for f in schema if f.name != "company"])
    folder = batch_dir(home.lake, "raw", "crm", "contacts", "b1")
    folder.mkdir(parents=True)
    row = {k: v for k, v in contact("C1", "b1", city="Leeds").items() if k != "company"}
    pq.write_table(pa.Table.from_pylist([row], schema=older), folder / "part-00000.parquet")

    load_lake(home)

    assert rows(database, "select contact_id, city, company from crm.contacts") == [("C1", "Leeds", None)]


def test_a_damaged_file_fails_naming_it_and_leaves_the_table_as_it_was(home, database):
    land(home, "crm", "contacts", "b1", [contact("C1", "b1")])
    load_lake(home)
    damaged = land(home, "crm", "contacts", "b2", [contact("C2", "b2")]) / "part-00000.parquet"
    damaged.write_bytes(b"not parquet")

    with pytest.raises(WarehouseLoadError, match=re.escape(str(damaged))):
        load_lake(home)
    assert rows(database, "select contact_id from crm.contacts") == [("C1",)]


def test_rows_of_another_batch_in_a_batch_folder_are_refused_by_file(home, database):
    part = land(home, "crm", "contacts", "b1", [contact("C1", "elsewhere")]) / "part-00000.parquet"

    with pytest.raises(WarehouseLoadError, match=rf"{re.escape(str(part))}: rows carry _batch_id \['elsewhere'\]"):
        load_lake(home)


def test_a_missing_database_is_named_with_what_to_do(home, database):
    settings = PostgresSettings.from_env({**database, "TESSERA_PG_DBNAME": "no_such_tessera_db"})

    with pytest.raises(WarehouseLoadError, match="'no_such_tessera_db' at .*TESSERA_PG_"):
        load_lake(home, settings)


@pytest.mark.unit
def test_settings_come_from_the_same_variables_as_the_dbt_profile():
    assert PostgresSettings.from_env({}) == PostgresSettings("127.0.0.1", 5432, "postgres", "", "tessera")
    settings = PostgresSettings.from_env(
        {"TESSERA_PG_HOST": "db", "TESSERA_PG_PORT": "6543", "TESSERA_PG_DBNAME": "cdp"}
    )
    assert (settings.host, settings.port, settings.dbname) == ("db", 6543, "cdp")
    with pytest.raises(WarehouseLoadError, match="TESSERA_PG_PORT"):
        PostgresSettings.from_env({"TESSERA_PG_PORT": "five"})
