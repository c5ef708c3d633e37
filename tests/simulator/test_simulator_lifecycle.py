"""initialize / advance / open: idempotence, config checks, the clock, and crash recovery."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from tessera_simulator import Simulator, SimulatorConfig
from tessera_simulator.simulator import simulated_streams

from tests.simulator.conftest import START, make_sim
from tests.simulator.snapshots import assert_same, snapshot, sqlite_rows

pytestmark = pytest.mark.unit


def _midnight_after(days: int) -> datetime:
    return datetime(START.year, START.month, START.day, tzinfo=UTC) + timedelta(days=days)


def test_initialize_creates_the_layout_and_sets_the_clock_to_the_start_date(tmp_path):
    sim = make_sim(tmp_path / "sim")
    sim.initialize()
    for name in ("state.json", "crm.sqlite", "esp.sqlite", "pos.sqlite", "ground_truth.parquet"):
        assert (tmp_path / "sim" / name).is_file(), name
    assert any((tmp_path / "sim" / "web").rglob("*.jsonl.gz"))
    assert sim.clock == datetime(2026, 1, 1, tzinfo=UTC)
    assert sim.clock.tzinfo is not None
    state = json.loads((tmp_path / "sim" / "state.json").read_text())
    assert state["config"] == {"customers": 400, "seed": 3, "start_date": "2026-01-01", "pos_url": None}
    assert state["counters"]["person"] == 400


def test_initialize_again_with_the_same_config_is_a_no_op(tmp_path):
    sim = make_sim(tmp_path / "sim")
    sim.initialize()
    sim.advance(1)
    before = snapshot(sim)
    again = make_sim(tmp_path / "sim")
    again.initialize()
    assert again.clock == _midnight_after(1)
    assert_same(before, snapshot(again))


def test_a_different_config_on_an_existing_directory_is_refused_naming_the_difference(tmp_path):
    make_sim(tmp_path / "sim").initialize()
    with pytest.raises(ValueError, match=r"customers: 400 vs 500"):
        make_sim(tmp_path / "sim", customers=500).initialize()
    with pytest.raises(ValueError, match=r"seed"):
        make_sim(tmp_path / "sim", seed=4).advance(1)


def test_invalid_configs_and_missing_state_fail_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="customers"):
        SimulatorConfig(customers=0)
    with pytest.raises(FileNotFoundError, match="state.json"):
        Simulator.open(tmp_path / "nothing")
    with pytest.raises(RuntimeError, match="initialize"):
        make_sim(tmp_path / "fresh").advance(1)


def test_advance_moves_the_clock_a_day_at_a_time_and_summaries_match_the_stores(tmp_path):
    sim = make_sim(tmp_path / "sim")
    sim.initialize()
    contacts_before = sqlite_rows(sim.crm_path, "select count(*) from contacts")[0][0]
    summaries = sim.advance(days=3)
    assert [s.day for s in summaries] == [START, START + timedelta(days=1), START + timedelta(days=2)]
    assert sim.clock == _midnight_after(3)
    assert all(set(s.counts) == set(simulated_streams()) for s in summaries)
    # every day writes something to each busy stream of this small world
    assert all(s.counts["email.events"] > 0 and s.counts["web.events"] > 0 for s in summaries)
    end_ms = int(sim.clock.timestamp() * 1000)
    assert sqlite_rows(sim.crm_path, "select count(*) from contacts where updated_ms >= ?", (end_ms,))[0][0] == 0
    events = sqlite_rows(sim.esp_path, "select count(*) from events where ts_ms >= ?", (end_ms - 3 * 86_400_000,))
    # late events of the first day are dated before the start; those of later days are not
    assert events[0][0] == sum(s.counts["email.events"] for s in summaries) - summaries[0].late["email.events"]
    contacts_after = sqlite_rows(sim.crm_path, "select count(*) from contacts")[0][0]
    assert contacts_after >= contacts_before
    assert sim.advance(0) == [] and sim.clock == _midnight_after(3)


def test_an_advance_interrupted_after_writing_the_stores_is_redone_without_doubling(tmp_path, monkeypatch):
    clean = make_sim(tmp_path / "clean")
    clean.initialize()
    clean.advance(2)

    crashed = make_sim(tmp_path / "crashed")
    crashed.initialize()
    crashed.advance(1)
    real_commit = Simulator._commit

    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt("killed after the stores were written")

    monkeypatch.setattr(Simulator, "_commit", crash)
    with pytest.raises(KeyboardInterrupt):
        crashed.advance(1)
    monkeypatch.setattr(Simulator, "_commit", real_commit)
    reopened = Simulator.open(tmp_path / "crashed")
    assert reopened.clock == _midnight_after(1)
    reopened.advance(1)
    assert_same(snapshot(clean), snapshot(reopened))
