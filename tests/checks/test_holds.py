"""Releasing held batches: only a held batch, once, with who, when and why kept in the audit trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.contract import contract_for
from connectors.lake import HELD, RELEASED, batch_state, is_visible, read_marker
from tessera.audit import audit_entries
from tessera.checks import ReleaseRefused, check_batch, held_batches, release_batch, releases_log
from tests.checks.conftest import NOW, batch_id, contacts, land_pending

pytestmark = pytest.mark.unit

CONTACTS = contract_for("crm", "contacts")


@pytest.fixture
def held(home):
    """A crm.contacts batch held for a duplicated id (C00001)."""
    rows = contacts(6)
    rows[5]["contact_id"] = rows[1]["contact_id"]
    folder = land_pending(home.lake, "crm", "contacts", 0, rows)
    result = check_batch(home, CONTACTS, batch_id(0), now=NOW)
    assert batch_state(folder) == "held"
    return folder, result


def test_releasing_a_held_batch_makes_it_visible_and_writes_the_audit_trail(home, held):
    folder, result = held
    before = datetime.now(UTC)

    path = release_batch(home, CONTACTS, batch_id(0), "the CRM merged two contacts; dbt keeps one", "dana")

    assert path == folder / RELEASED and batch_state(folder) == "released" and is_visible(folder)
    record = read_marker(folder, RELEASED)
    assert record["by"] == "dana" and record["reason"] == "the CRM merged two contacts; dbt keeps one"
    assert before <= datetime.fromisoformat(record["at"]) <= datetime.now(UTC)
    assert record["failures"] == read_marker(folder, HELD)["failures"] == [f.to_dict() for f in result.critical]
    assert record["failures"][0]["sample_values"] == ["C00001"]
    (line,) = releases_log(home).read_text().splitlines()
    assert json.loads(line) == record
    (audited,) = audit_entries(home, "release")
    assert audited["details"] == {
        "stream": "crm.contacts",
        "batch_id": batch_id(0),
        "by": "dana",
        "reason": "the CRM merged two contacts; dbt keeps one",
    }


def test_a_batch_is_released_once(home, held):
    release_batch(home, CONTACTS, batch_id(0), "reviewed", "dana")
    with pytest.raises(ReleaseRefused, match=r"already released \(by dana at .*: reviewed\)"):
        release_batch(home, CONTACTS, batch_id(0), "again", "eve")
    assert len(releases_log(home).read_text().splitlines()) == 1


def test_a_released_batch_stays_released_when_checked_again(home, held):
    folder, _ = held
    release_batch(home, CONTACTS, batch_id(0), "reviewed", "dana")
    again = check_batch(home, CONTACTS, batch_id(0), now=NOW)
    assert not again.passed and batch_state(folder) == "released"


def test_only_a_held_batch_can_be_released(home):
    land_pending(home.lake, "crm", "contacts", 0, contacts(3))
    with pytest.raises(ReleaseRefused, match=r"crm.contacts batch 20260101T000000Z: it is pending, not held"):
        release_batch(home, CONTACTS, batch_id(0), "reviewed", "dana")
    check_batch(home, CONTACTS, batch_id(0), now=NOW)
    with pytest.raises(ReleaseRefused, match="it is checked, not held"):
        release_batch(home, CONTACTS, batch_id(0), "reviewed", "dana")
    with pytest.raises(ReleaseRefused, match=r"batch 20991231T000000Z: .*batch_id=20991231T000000Z does not exist"):
        release_batch(home, CONTACTS, "20991231T000000Z", "reviewed", "dana")
    assert not releases_log(home).exists()


def test_a_release_needs_a_reason(home, held):
    with pytest.raises(ReleaseRefused, match="without a reason"):
        release_batch(home, CONTACTS, batch_id(0), "  ", "dana")


def test_held_batches_lists_what_is_held_with_its_failures(home, held):
    folder, result = held
    land_pending(home.lake, "crm", "contacts", 1, contacts(3))
    check_batch(home, CONTACTS, batch_id(1), now=NOW)

    (listed,) = held_batches(home)

    assert (listed.stream, listed.batch_id, listed.folder) == ("crm.contacts", batch_id(0), folder)
    assert listed.failures == result.critical
    assert listed.first_failure.startswith("crm.contacts: expect_column_values_to_be_unique on contact_id (critical)")
    release_batch(home, CONTACTS, batch_id(0), "reviewed", "dana")
    assert held_batches(home) == []
