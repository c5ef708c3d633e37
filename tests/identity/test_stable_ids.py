"""Customer ids stay stable across runs; merges keep the oldest id, splits mint new ones, and both are recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from tessera.dbt_runner import run_transform
from tessera.home import TesseraHome
from tests.lake_writer import land, land_empty_streams

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _contact(contact_id, email, phone, day):
    ts = datetime(2026, 1, day, 12, tzinfo=UTC)
    return {"contact_id": contact_id, "email": email, "phone": phone, "first_name": "Ann", "last_name": "Lee",
            "country": "GB", "is_deleted": False, "updated_at": ts, "created_at": ts}  # fmt: skip


def _member(loyalty_id, email, phone, day):
    ts = datetime(2026, 1, day, 12, tzinfo=UTC)
    return {"loyalty_id": loyalty_id, "email": email, "phone": phone, "first_name": "Ann", "last_name": "Lee",
            "country": "GB", "updated_at": ts, "enrolled_at": ts}  # fmt: skip


def _ids(home):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        xref = dict(con.execute("select source || ':' || record_id, customer_id from marts.customer_xref").fetchall())
        merges = con.execute(
            "select old_customer_id, new_customer_id, reason from marts.customer_merges order by 1, 2"
        ).fetchall()
    return xref, merges


def test_ids_survive_growth_merges_keep_the_oldest_and_splits_mint_new_ids(tmp_path):
    home = TesseraHome(tmp_path)
    # Day 1: a CRM contact and a loyalty member with nothing in common: two customers.
    land(home.lake, "crm", "contacts", "20260101T000000Z", [_contact("A", "ann@example.com", None, 1)])
    land(home.lake, "pos", "loyalty_members", "20260101T000000Z", [_member("L", "lee@example.org", "+447700900123", 1)])
    land_empty_streams(home.lake)
    run_transform(home)
    day1, merges = _ids(home)
    assert day1["crm:A"] != day1["pos:L"] and merges == []

    # Day 2: the contact grows (a new email subscriber with the same email): same id.
    land(home.lake, "email", "subscribers", "20260102T000000Z",
         [{"subscriber_id": "S", "email": "ann@example.com", "status": "subscribed",
           "updated_at": datetime(2026, 1, 2, tzinfo=UTC)}])  # fmt: skip
    run_transform(home)
    day2, merges = _ids(home)
    assert day2["crm:A"] == day2["email:S"] == day1["crm:A"] and day2["pos:L"] == day1["pos:L"]

    # Day 3: the contact gains the member's phone: the two customers merge; the older id survives.
    land(home.lake, "crm", "contacts", "20260103T000000Z", [_contact("A", "ann@example.com", "+447700900123", 3)])
    run_transform(home)
    day3, merges = _ids(home)
    survivor = day3["crm:A"]
    assert day3["pos:L"] == survivor == day3["email:S"]
    assert survivor in {day1["crm:A"], day1["pos:L"]}
    retired = ({day1["crm:A"], day1["pos:L"]} - {survivor}).pop()
    assert merges == [(retired, survivor, "merge")]

    # Day 4: the phone was a typo and is removed: the merged customer splits, both pieces get new ids.
    land(home.lake, "crm", "contacts", "20260104T000000Z", [_contact("A", "ann@example.com", None, 4)])
    run_transform(home)
    day4, merges = _ids(home)
    assert day4["crm:A"] == day4["email:S"] != day4["pos:L"]
    assert survivor not in {day4["crm:A"], day4["pos:L"]}
    assert {(old, new, why) for old, new, why in merges if why == "split"} == {
        (survivor, day4["crm:A"], "split"),
        (survivor, day4["pos:L"], "split"),
    }

    # A full refresh rebuilds everything but the id history: the same ids come out.
    run_transform(home, full_refresh=True)
    assert _ids(home)[0] == day4
