"""The lake loads into PostgreSQL as tables named like the dbt sources: in bulk, batch by batch, idempotently,
and only the batches that are visible (published and checked, or released), each with when it became visible."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.contract import contract_for
from connectors.lake import CHECKED, HELD, RELEASED, SUCCESS, BatchWriter, batch_dir, write_marker
from connectors.registry import registry
from tessera.home import TesseraHome
from tessera.warehouse_load import LEDGER_SCHEMA, LEDGER_TABLE, PostgresSettings, WarehouseLoadError, load_lake
from tests import lake_writer
from tests.dbt.postgres_target import connect, postgres_target
from tests.sources import throwaway_postgres_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHECKED_AT = T0 + timedelta(hours=1)


def contact(contact_id: str, batch: str, **values) -> dict:
    row = {f.name: None for f in contract_for("crm", "contacts").schema}
    row.update(contact_id=contact_id, updated_at=T0, _batch_id=batch, _extracted_at=T0, **values)
    return row


def land(
    home: TesseraHome, source: str, stream: str, batch: str, rows: list[dict], at: datetime = CHECKED_AT, **kw
) -> Path:
    """Land a batch by the contract (tests/lake_writer.py): checked at `at` unless `visible=False`."""
    business = [{k: v for k, v in row.items() if k not in ("_batch_id", "_extracted_at")} for row in rows]
    return lake_writer.land(home.lake, source, stream, batch, business, extracted_at=T0, visible_at=at, **kw)


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
        assert [c for (c,) in columns] == [*contract.schema.names, "_visible_at"]
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

    # A re-run that found nothing removes the batch from the lake.
    BatchWriter(batch_dir(home.lake, "raw", "crm", "contacts", "b2"), contract_for("crm", "contacts").schema).publish()
    emptied = {load.table: load for load in load_lake(home)}
    assert emptied["crm.contacts"].removed == ["b2"]
    assert rows(database, "select contact_id from crm.contacts") == [("C1",)]
    assert rows(database, f"select stream, batch_id, row_count from {LEDGER_SCHEMA}.{LEDGER_TABLE} order by 1, 2") == [
        ("contacts", "b1", 1)
    ]


def test_a_lake_on_object_storage_loads_and_reloads_only_what_changed(tmp_path, s3_lake, database):
    home = TesseraHome(tmp_path / "home", lake_location=str(s3_lake))
    land(home, "crm", "contacts", "b1", [contact("C1", "b1"), contact("C2", "b1")])
    land(home, "crm", "contacts", "b2", [contact("C3", "b2")])
    land(home, "crm", "contacts", "b3", [contact("C4", "b3")], visible=False)
    first = {load.table: load for load in load_lake(home)}["crm.contacts"]
    assert (first.loaded, first.invisible) == (["b1", "b2"], ["b3"])

    land(home, "crm", "contacts", "b1", [contact("C1", "b1", email="new@x.example")])  # the interval re-ran
    again = {load.table: load for load in load_lake(home)}["crm.contacts"]
    assert (again.loaded, again.unchanged) == (["b1"], 1)
    assert rows(database, "select contact_id, email, _batch_id from crm.contacts order by 1") == [
        ("C1", "new@x.example", "b1"),
        ("C3", None, "b2"),
    ]


def test_a_file_written_before_a_column_existed_loads_with_nulls(home, database):
    schema = contract_for("crm", "contacts").schema
    older = pa.schema([f for f in schema if f.name != "company"])
    folder = batch_dir(home.lake, "raw", "crm", "contacts", "b1")
    folder.mkdir(parents=True)
    row = {k: v for k, v in contact("C1", "b1", city="Leeds").items() if k != "company"}
    pq.write_table(pa.Table.from_pylist([row], schema=older), folder / "part-00000.parquet")
    lake_writer.mark_visible(folder, CHECKED_AT)

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
    part = land(home, "crm", "contacts", "b1", [contact("C1", "b1")]) / "part-00000.parquet"
    schema = contract_for("crm", "contacts").schema
    pq.write_table(pa.Table.from_pylist([contact("C1", "elsewhere")], schema=schema), part)

    with pytest.raises(WarehouseLoadError, match=rf"{re.escape(str(part))}: rows carry _batch_id \['elsewhere'\]"):
        load_lake(home)


def test_only_visible_batches_load_and_their_rows_say_when_they_became_visible(home, database):
    land(home, "crm", "contacts", "checked", [contact("C1", "checked")], at=CHECKED_AT)
    land(home, "crm", "contacts", "writing", [contact("C2", "writing")], visible=False)  # no _SUCCESS yet
    pending = land(home, "crm", "contacts", "pending", [contact("C3", "pending")], visible=False)
    write_marker(pending, SUCCESS)  # published, not yet checked
    held = land(home, "crm", "contacts", "held", [contact("C4", "held")], visible=False)
    write_marker(held, SUCCESS)
    write_marker(held, HELD, {"at": CHECKED_AT.isoformat(), "failures": ["contact_id is not unique"]})
    released = land(home, "crm", "contacts", "released", [contact("C5", "released")], at=CHECKED_AT)
    write_marker(released, HELD, {"at": CHECKED_AT.isoformat()})
    write_marker(released, RELEASED, {"at": "2026-01-03T09:30:00", "by": "ops", "why": "known duplicate"})

    (load,) = [load for load in load_lake(home) if load.table == "crm.contacts"]

    assert load.loaded == ["checked", "released"] and load.invisible == ["held", "pending", "writing"]
    assert rows(database, "select contact_id, _batch_id, _visible_at from crm.contacts order by 1") == [
        ("C1", "checked", CHECKED_AT),
        ("C5", "released", datetime(2026, 1, 3, 9, 30, tzinfo=UTC)),  # when released (a naive `at` is UTC)
    ]


def test_a_batch_that_stops_being_visible_leaves_the_table_until_it_is_released(home, database):
    land(home, "crm", "contacts", "b1", [contact("C1", "b1")])
    land(home, "crm", "contacts", "b2", [contact("C2", "b2")])
    load_lake(home)
    # The interval of b1 re-ran: its new version was published and held by its checks.
    held = land(home, "crm", "contacts", "b1", [contact("C1", "b1", email="bad")], visible=False)
    write_marker(held, SUCCESS)
    write_marker(held, HELD, {"at": "2026-01-02T00:00:00+00:00"})

    (hidden,) = [load for load in load_lake(home) if load.table == "crm.contacts"]

    assert hidden.removed == ["b1"] and hidden.invisible == ["b1"] and hidden.unchanged == 1
    assert rows(database, "select contact_id from crm.contacts") == [("C2",)]
    assert rows(database, f"select batch_id from {LEDGER_SCHEMA}.{LEDGER_TABLE}") == [("b2",)]

    released_at = datetime(2026, 1, 2, 8, tzinfo=UTC)
    write_marker(held, RELEASED, {"at": released_at.isoformat(), "by": "ops", "why": "checked by hand"})
    (back,) = [load for load in load_lake(home) if load.table == "crm.contacts"]

    assert back.loaded == ["b1"] and back.unchanged == 1
    assert rows(database, "select contact_id, email, _visible_at from crm.contacts order by 1") == [
        ("C1", "bad", released_at),
        ("C2", None, CHECKED_AT),
    ]


def test_a_visible_marker_without_a_time_fails_naming_it(home, database):
    folder = land(home, "crm", "contacts", "b1", [contact("C1", "b1")])
    write_marker(folder, CHECKED, {"warnings": []})

    with pytest.raises(WarehouseLoadError, match=re.escape(str(folder / CHECKED)) + ".*ISO-8601 `at`"):
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
