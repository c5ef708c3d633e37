"""The real build publishes the real marts: `run_transform` on a tiny lake, then readers on the published file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tessera.dbt_runner import run_transform
from tessera.explain import explain_customer
from tessera.home import TesseraHome
from tessera.publication import last_publication, publish_warehouse, published_path
from tessera.warehouse import connect, mart_counts
from tests.lake_writer import land, land_empty_streams

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _contact(contact_id: str, email: str) -> dict:
    return {"contact_id": contact_id, "email": email, "first_name": "Ann", "last_name": "Lee", "country": "GB",
            "is_deleted": False, "updated_at": DAY, "created_at": DAY}  # fmt: skip


def test_a_transform_publishes_the_marts_and_what_explain_reads(tmp_path):
    home = TesseraHome(tmp_path)
    # Ann is a CRM contact and a loyalty member with the same email; Bob is a CRM contact only.
    land(home.lake, "crm", "contacts", "20260101T000000Z",
         [_contact("A", "ann@example.com"), _contact("B", "bob@example.com")])  # fmt: skip
    land(home.lake, "pos", "loyalty_members", "20260101T000000Z",
         [{"loyalty_id": "L", "email": "ann@example.com", "first_name": "Ann", "last_name": "Lee",
           "country": "GB", "updated_at": DAY, "enrolled_at": DAY}])  # fmt: skip
    land_empty_streams(home.lake)

    run_transform(home)  # builds the working file, checks the marts, publishes

    published = last_publication(home)
    assert published is not None and published.path == published_path(home)
    assert mart_counts(home) == published.tables
    assert published.tables["golden_customers"] == 2 and published.tables["customer_xref"] == 3
    with connect(home) as con:
        ann = con.execute(
            "select customer_id from marts.customer_xref where source = 'crm' and record_id = 'A'"
        ).fetchone()[0]
        records = con.execute(
            "select source || ':' || record_id from marts.customer_xref where customer_id = ? order by 1", [ann]
        ).fetchall()
    assert records == [("crm:A",), ("pos:L",)]
    # `tessera explain` reads the published file: the marts and the identity tables it needs are there.
    explanation = explain_customer(home, ann)
    assert explanation.records == [("crm", "contacts", "A"), ("pos", "loyalty_members", "L")]
    assert [row[0] for row in explanation.identifiers] == ["email"]

    again = publish_warehouse(home)
    assert again.tables == published.tables and again.size_bytes == published.size_bytes
