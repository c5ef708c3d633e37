"""A broken feed, run through the real extract DAG with `dag.test()`: the check task fails naming the
expectation, the batch is held in the lake, and the stream's Asset gets no event, so the transform DAG,
which waits for every stream's Asset, is not triggered by it; the healthy stream of the same DAG publishes."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from tessera_simulator.demo import source_connections

from connectors.lake import batch_dir, batch_state
from tessera.orchestration import raw_asset
from tests.sources import TOKEN, running_sources

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def connected_sources(home, monkeypatch):
    with running_sources(home.simulator, customers=200) as sources:
        for key, value in source_connections(home, sources.crm_url, sources.esp_url, TOKEN).items():
            monkeypatch.setenv(key, value)
        yield sources


def asset_events() -> dict[int, str]:
    """Every Asset event in the metadata DB (shared by the session's DAG runs): its Asset's URI, by event id."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        return {event.id: event.asset.uri for event in session.query(AssetEvent).all()}


def test_a_held_batch_fails_its_check_task_and_publishes_no_asset_event(connected_sources, home, airflow_db):
    from tessera.airflow_local import run_dag

    sim = connected_sources.sim
    sim.advance(days=1)
    # The till system's export breaks: 300 loyalty members arrive with a hash where the e-mail should be.
    engine = sa.create_engine(f"sqlite:///{home.simulator / 'pos.sqlite'}")
    changed = (sim.clock - timedelta(hours=2)).replace(tzinfo=None)
    with engine.begin() as con:
        con.execute(
            sa.text(
                "insert into loyalty_members (loyalty_id, first_name, last_name, email, enrolled_at, updated_at) "
                "values (:id, 'Broken', 'Feed', :email, :at, :at)"
            ),
            [{"id": f"BROKEN{i:05d}", "email": hashlib.sha256(str(i).encode()).hexdigest(), "at": changed}
             for i in range(300)],
        )  # fmt: skip
    engine.dispose()
    before = asset_events()

    with pytest.raises(RuntimeError, match=re.escape("failed: ['check_loyalty_members']")):
        run_dag("tessera_extract_pos", sim.clock)

    batch_id = (sim.clock - timedelta(days=1)).strftime("%Y%m%dT%H%M%SZ")
    assert batch_state(batch_dir(home.lake, "raw", "pos", "loyalty_members", batch_id)) == "held"
    assert batch_state(batch_dir(home.lake, "raw", "pos", "transactions", batch_id)) == "checked"
    # Events of this run only: earlier runs in the session published the same Assets.
    published = {uri for event, uri in asset_events().items() if event not in before}
    assert raw_asset("pos", "transactions").uri in published
    assert raw_asset("pos", "loyalty_members").uri not in published
