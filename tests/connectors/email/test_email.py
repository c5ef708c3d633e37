"""The ESP connector against the simulator's real HTTP API on loopback."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.lake_reader import column, landed
from tests.sources import extract_all

pytestmark = pytest.mark.integration


def test_daily_runs_land_subscribers_and_events_incrementally(sources, home):
    sim = sources.sim
    first = extract_all(sources, "email", home, None, sim.clock)
    assert first["subscribers"].rows > 0 and first["events"].rows > 0
    for _ in range(2):
        start = sim.clock
        sim.advance(days=1)
        day = extract_all(sources, "email", home, start, sim.clock)
        assert 0 < day["events"].rows < first["events"].rows
        assert day["subscribers"].rows < first["subscribers"].rows / 2

    events = landed(home.lake, "email", "events")
    assert max(Counter(column(events, "event_id")).values()) == 1, "an event landed twice"
    assert set(column(events, "event_type")) <= {
        "sent", "delivered", "open", "click", "bounce", "unsubscribe", "spam_complaint"
    }  # fmt: skip
    assert max(column(events, "occurred_at")) < sim.clock

    subscribers = landed(home.lake, "email", "subscribers")
    versions = Counter(zip(column(subscribers, "subscriber_id"), column(subscribers, "updated_at"), strict=True))
    assert max(versions.values()) == 1
    # Unsubscribes during the simulated days show up as new versions of existing subscribers.
    assert len(versions) > len(set(column(subscribers, "subscriber_id")))


def test_malformed_events_and_members_are_quarantined(sources, home):
    sim = sources.sim
    results = extract_all(sources, "email", home, None, sim.clock)
    for _ in range(2):
        start = sim.clock
        sim.advance(days=1)
        for stream, result in extract_all(sources, "email", home, start, sim.clock).items():
            results[stream].quarantined += result.quarantined
    assert results["events"].quarantined + results["subscribers"].quarantined > 0
    for stream in ("events", "subscribers"):
        q = landed(home.lake, "email", stream, zone="quarantine")
        for reason, record in zip(column(q, "_reason"), column(q, "_record"), strict=True):
            assert reason and record.startswith("{")


def test_rate_limits_mid_pagination_cost_time_not_records(sources, tmp_path):
    from tessera.home import TesseraHome

    clean, stormy = TesseraHome(tmp_path / "clean"), TesseraHome(tmp_path / "stormy")
    extract_all(sources, "email", clean, None, sources.sim.clock, page_size=50)
    sources.faults("email", path_prefix="/3.0/events", after=3, times=4, status=429, retry_after=0, mode="status")
    sources.faults("email", path_prefix="/3.0/members", after=1, times=2, status=502, mode="status")
    extract_all(sources, "email", stormy, None, sources.sim.clock, page_size=50)
    assert sources.stats("email")["faults_served"] == 6
    for stream in ("events", "subscribers"):
        key = "event_id" if stream == "events" else "subscriber_id"
        assert sorted(column(landed(stormy.lake, "email", stream), key)) == sorted(
            column(landed(clean.lake, "email", stream), key)
        )
