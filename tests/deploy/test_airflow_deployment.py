"""The installed wheel on a real Airflow 3.3: separate api-server, scheduler and dag-processor with the
LocalExecutor. The scheduler creates the extract runs from their schedules, they land the interval's batches
from the simulated sources (served from this test process), and the Asset events they emit trigger the
transform, which builds the golden customers. This is what `docs/deploy.md` tells a data engineer to do."""

from __future__ import annotations

import logging
import time

import pytest

from tessera.home import TesseraHome
from tessera.logs import airflow_logs_dir
from tests.deploy.airflow_cluster import (
    EMAIL,
    EXTRACT_DAGS,
    SEED,
    bundled_dag_ids,
    bundled_dags_folder,
    check_extracts_landed,
    check_golden_customers,
    extract_then_transform,
    json_output,
    latest_complete_day,
    metadata_database,
    running_airflow,
    simulated_sources,
    tessera_environment,
)
from tests.deploy.installed import Installed

# The waits add up to more than pytest's default 600 s: on a busy 2-core machine the transform alone can take
# 10 minutes.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1500),
]

log = logging.getLogger(__name__)


def test_the_wheel_deployed_on_airflow_extracts_on_schedule_and_the_assets_trigger_the_transform(
    installed: Installed, tmp_path
):
    started = time.monotonic()
    interval_start = latest_complete_day()
    world = f"SimulatorConfig(customers=200, seed={SEED}, start_date={interval_start.date()}) advanced a day"
    home = TesseraHome(tmp_path / "tessera-home")
    tessera_env = tessera_environment(home, interval_start)
    dags_folder = bundled_dags_folder(installed, tessera_env, tmp_path)

    def progress(what: str) -> None:
        log.info("%.0fs: %s", time.monotonic() - started, what)

    with (
        simulated_sources(tmp_path / "sources", interval_start.date()) as (sim, connections),
        metadata_database() as metadata_db,
        running_airflow(
            installed, tmp_path / "airflow", dags_folder, metadata_db, tessera_env | connections
        ) as airflow,
    ):
        progress(f"{metadata_db.split(':')[0]} metadata DB migrated; api-server, scheduler, dag-processor healthy")
        airflow.wait_for_dags(bundled_dag_ids())
        extract_runs, transform_run = extract_then_transform(airflow, progress)
        published = airflow.xcom("tessera_transform", transform_run["dag_run_id"], "publish_marts")
        listed = json_output(airflow.cli("dags", "list-runs", "tessera_transform", "--output", "json").stdout)
    progress("Airflow stopped")
    status = installed.run("tessera", "status", env=installed.environment(**tessera_env), cwd=tmp_path)

    # The scheduler made the extract runs from each DAG's schedule, and each stream landed its batch.
    check_extracts_landed(home, sim, extract_runs, status.stdout)

    # The transform ran because the Assets were updated, not from a schedule or by hand.
    assert transform_run["run_type"] == "asset_triggered" and transform_run["state"] == "success"
    assert [(r["run_id"], r["state"]) for r in listed] == [(transform_run["dag_run_id"], "success")]

    # The published warehouse under TESSERA_HOME holds the golden customers the run published, resolved correctly.
    check_golden_customers(home, published, sim, world)

    # Each task run wrote its own log under the home, by DAG, run and task, and no log holds an e-mail address.
    task_logs = sorted(airflow_logs_dir(home).rglob("*.log"))
    transform_logs = [p for p in task_logs if p.is_relative_to(airflow_logs_dir(home) / "tessera_transform")]
    assert any(p.name.startswith("publish_marts") for p in transform_logs), task_logs
    assert {p.relative_to(airflow_logs_dir(home)).parts[0] for p in task_logs} >= {*EXTRACT_DAGS, "tessera_transform"}
    for path in task_logs:
        assert not EMAIL.search(path.read_text(errors="replace")), f"{path} holds an e-mail address"
