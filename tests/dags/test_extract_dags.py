"""The extract DAGs, run with `dag.test()` against the running simulated sources, land all six streams."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from tessera_simulator.demo import source_connections

from connectors.registry import registry
from connectors.state import StateStore
from tests.lake_reader import landed
from tests.sources import TOKEN, running_sources

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def connected_sources(tmp_path, home, monkeypatch):
    with running_sources(home.simulator, customers=200) as sources:
        for key, value in source_connections(home, sources.crm_url, sources.esp_url, TOKEN).items():
            monkeypatch.setenv(key, value)
        yield sources


def test_extract_dags_land_all_streams_day_by_day_and_reruns_are_idempotent(connected_sources, home, airflow_db):
    from tessera.airflow_local import run_dag

    sim = connected_sources.sim
    assert os.environ["TESSERA_HOME"] == str(home.root)
    counts = {}
    for _ in range(2):
        sim.advance(days=1)
        for source in registry().sources.values():
            run_dag(source.dag_id, sim.clock)
        counts = {c.name: landed(home.lake, c.source, c.stream).num_rows for c in registry().streams}
    assert all(n > 0 for n in counts.values()), counts
    day = (sim.clock - timedelta(days=1)).strftime("%Y%m%dT%H%M%SZ")
    for contract in registry().streams:
        committed = StateStore(home.state, contract.source, contract.stream).load().batches
        if contract.source != "web":  # web runs hourly: its last batch starts at the last hour
            assert day in committed, (contract.name, sorted(committed))

    for source in registry().sources.values():  # the same logical dates again: batches are replaced, not added
        run_dag(source.dag_id, sim.clock)
    again = {c.name: landed(home.lake, c.source, c.stream).num_rows for c in registry().streams}
    assert again == counts
