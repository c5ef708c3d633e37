"""The CRM connector against the simulator's real HTTP API on loopback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from datetime import datetime

import httpx
import pytest

from connectors.base import Window
from connectors.connection import ConnectionInfo
from connectors.extraction import extract
from connectors.http import SourceApiError
from connectors.lake import batch_state
from connectors.records import to_json
from connectors.registry import registry
from connectors.state import StateStore
from tests.lake_reader import column, landed
from tests.lake_writer import land
from tests.sources import TOKEN, extract_all

pytestmark = pytest.mark.integration


def served_contacts(url: str, before) -> list[dict]:
    """Every contact the API serves now (all pages), read directly for comparison."""
    out, after = [], None
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        while True:
            params = {"updated_before": before.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "limit": 500}
            if after:
                params["after"] = after
            doc = client.get("/crm/v3/contacts", params=params).json()
            out += doc["results"]
            after = ((doc.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out


def versions(home) -> Counter:
    table = landed(home.lake, "crm", "contacts")
    return Counter(zip(column(table, "contact_id"), column(table, "updated_at"), strict=True))


def latest_by_id(home) -> dict:
    latest = {}
    for (cid, ts), _ in versions(home).items():
        latest[cid] = max(latest.get(cid, ts), ts)
    return latest


def assert_lake_matches_source(sources, home):
    """Every contact the CRM serves is in the lake at its current version, or in quarantine."""
    served = served_contacts(sources.crm_url, sources.sim.clock)
    latest = latest_by_id(home)
    quarantined = set(column(landed(home.lake, "crm", "contacts", zone="quarantine"), "_record"))
    valid = [c for c in served if c.get("id") and _is_iso(c.get("updatedAt"))]
    assert {c["id"]: _ts(c["updatedAt"]) for c in valid} == latest
    for contact in served:
        if contact not in valid:
            assert to_json(contact) in quarantined, f"malformed contact neither landed nor quarantined: {contact}"


def test_incremental_days_land_each_version_once_and_catch_late_updates(sources, home):
    sim = sources.sim
    first = extract_all(sources, "crm", home, None, sim.clock)["contacts"]
    assert first.rows > 0
    for _ in range(3):
        start = sim.clock
        sim.advance(days=1)
        result = extract_all(sources, "crm", home, start, sim.clock)["contacts"]
        assert 0 < result.rows < first.rows / 2, "a daily run should read only new and changed contacts"
    assert max(versions(home).values()) == 1, "a contact version landed twice"
    assert_lake_matches_source(sources, home)


def test_a_429_500_and_dropped_connection_storm_mid_pagination_loses_and_duplicates_nothing(sources, tmp_path):
    from tessera.home import TesseraHome

    clean, stormy = TesseraHome(tmp_path / "clean"), TesseraHome(tmp_path / "stormy")
    extract_all(sources, "crm", clean, None, sources.sim.clock, page_size=25)
    sources.faults("crm", path_prefix="/crm/v3/contacts", after=2, times=3, status=429, retry_after=0, mode="status")
    sources.faults("crm", path_prefix="/crm/v3/contacts", after=1, times=2, status=500, mode="status")
    sources.faults("crm", path_prefix="/crm/v3/contacts", after=1, times=1, status=200, mode="drop")
    extract_all(sources, "crm", stormy, None, sources.sim.clock, page_size=25)
    assert sources.stats("crm")["faults_served"] == 6
    assert versions(stormy) == versions(clean)
    assert max(versions(stormy).values()) == 1


def test_a_source_that_keeps_failing_fails_the_run_clearly_and_commits_nothing(sources, home):
    sources.faults("crm", path_prefix="/crm/v3/contacts", after=1, times=50, status=503, mode="status")
    with pytest.raises(SourceApiError, match=r"crm: GET /crm/v3/contacts .* HTTP 503"):
        extract_all(sources, "crm", home, None, sources.sim.clock, page_size=25, max_attempts=2, max_wait_seconds=0.1)
    assert not StateStore(home.state, "crm", "contacts").path.exists()
    assert landed(home.lake, "crm", "contacts").num_rows == 0


def test_malformed_contacts_are_quarantined_with_a_reason(sources, home):
    result = extract_all(sources, "crm", home, None, sources.sim.clock)["contacts"]
    served = served_contacts(sources.crm_url, sources.sim.clock)
    bad = [c for c in served if not c.get("id") or not _is_iso(c.get("updatedAt"))]
    assert bad, "the simulator should serve some malformed contacts"
    assert result.quarantined == len(bad)
    q = landed(home.lake, "crm", "contacts", zone="quarantine")
    assert all(r.startswith(("missing required field", "updatedAt is not")) for r in column(q, "_reason"))


def test_rerunning_an_interval_is_idempotent(sources, home):
    sim = sources.sim
    extract_all(sources, "crm", home, None, sim.clock)
    start = sim.clock
    sim.advance(days=1)
    first = extract_all(sources, "crm", home, start, sim.clock)["contacts"]
    before = versions(home)
    again = extract_all(sources, "crm", home, start, sim.clock)["contacts"]
    assert again.rerun and again.rows == first.rows
    assert versions(home) == before


def test_a_process_killed_between_writing_and_committing_is_recovered(sources, home):
    """Kill a real extraction process after it published the batch and before it saved state."""
    sim = sources.sim
    script = textwrap.dedent(
        f"""
        import os
        from datetime import datetime
        from connectors.state import StateStore
        from tests.sources import Sources, extract_all
        from tessera.home import TesseraHome
        StateStore.save = lambda self, state: os._exit(9)
        class Sim: clock = datetime.fromisoformat({sim.clock.isoformat()!r})
        extract_all(Sources(Sim(), {sources.crm_url!r}, {sources.esp_url!r}), "crm",
                    TesseraHome(__import__("pathlib").Path({str(home.root)!r})), None, Sim.clock)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    assert landed(home.lake, "crm", "contacts").num_rows > 0  # written, never committed

    start = sim.clock
    sim.advance(days=1)
    result = extract_all(sources, "crm", home, start, sim.clock)["contacts"]
    assert result.recovered == [start.strftime("upto-%Y%m%dT%H%M%SZ")]
    assert max(versions(home).values()) == 1
    assert_lake_matches_source(sources, home)


def test_a_run_with_a_bad_token_leaves_batches_another_loader_landed_alone(sources, home):
    """Another loader landed CRM contacts by the landing contract; a run that fails on a bad token (and
    the runs after it) must not take them for its own uncommitted batches."""
    sim = sources.sim
    theirs = land(home.lake, "crm", "contacts", "manual-20251231", [{"contact_id": "X1", "updated_at": sim.clock}])
    (stream,) = (
        registry()
        .source("crm")
        .build_streams(ConnectionInfo("tessera_crm", "http", host=sources.crm_url, password="not-the-token"))
    )
    with pytest.raises(SourceApiError, match="401"):
        extract(stream, Window(None, sim.clock), lake=home.lake, state_dir=home.state)
    assert batch_state(theirs) == "checked"

    result = extract_all(sources, "crm", home, None, sim.clock)["contacts"]

    assert result.recovered == [] and result.rows > 0
    assert batch_state(theirs) == "checked"
    table = landed(home.lake, "crm", "contacts")
    assert column(table, "contact_id").count("X1") == 1
    assert set(column(table, "_batch_id")) == {"manual-20251231", result.batch_id}


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _is_iso(value) -> bool:
    try:
        _ts(str(value))
        return True
    except ValueError:
        return False
