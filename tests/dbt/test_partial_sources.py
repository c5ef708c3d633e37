"""A company that has connected only its CRM builds golden customers from it; the streams with nothing
landed are empty in the build and named in the log, not an error."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import duckdb
import pytest

from connectors.registry import registry
from tessera.dbt_runner import run_transform
from tessera.publication import published_path
from tests.lake_writer import land

pytestmark = pytest.mark.integration


def test_a_lake_with_only_crm_contacts_builds_golden_customers(home, caplog):
    ts = datetime(2026, 1, 1, 12, tzinfo=UTC)
    contacts = [
        {"contact_id": "A", "email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "updated_at": ts},
        {"contact_id": "B", "email": "bob@example.org", "first_name": "Bob", "last_name": "Ray", "updated_at": ts},
        {"contact_id": "C", "email": " ANN@example.com", "first_name": "Ann", "last_name": "Lee", "updated_at": ts},
    ]
    land(home.lake, "crm", "contacts", "20260101T000000Z", contacts)

    with caplog.at_level(logging.WARNING, logger="tessera.gates"):
        run_transform(home)

    with duckdb.connect(str(published_path(home)), read_only=True) as con:
        golden = con.sql("select email, sources from marts.golden_customers order by email").fetchall()
    assert golden == [("ann@example.com", "crm"), ("bob@example.org", "crm")]
    missing = [c.name for c in registry().streams if c.name != "crm.contacts"]
    assert f"no batch to read yet for {', '.join(missing)}" in caplog.text
