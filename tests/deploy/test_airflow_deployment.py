"""The installed wheel on a real Airflow 3.3: separate api-server, scheduler and dag-processor with the
LocalExecutor. The scheduler creates the extract runs from their schedules, they land the interval's batches
from the simulated sources (served from this test process), and the Asset events they emit trigger the
transform, which builds the golden customers. This is what `docs/deploy.md` tells a data engineer to do."""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from tessera_simulator import Simulator, SimulatorConfig
from tessera_simulator.demo import source_connections
from tessera_simulator.identity_accuracy import linkable_records, pairwise_scores
from tessera_simulator.servers import run_servers

from connectors.registry import registry
from tessera.home import TesseraHome
from tessera.logs import airflow_log_settings, airflow_logs_dir
from tests.deploy.airflow_cluster import Airflow, DeploymentError, metadata_database, running_airflow
from tests.deploy.installed import Installed
from tests.lake_reader import landed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

log = logging.getLogger(__name__)

TOKEN = "deploy-test-token"
SEED = 5
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
EXTRACT_DAGS = sorted(source.dag_id for source in registry().sources.values())


@contextmanager
def simulated_sources(root: Path, day: date, customers: int = 200) -> Iterator[tuple[Simulator, dict[str, str]]]:
    """Source systems that have just lived through `day` (their history lies before it), so the daily
    extract runs' data interval [day, day + 1) ends where the simulated data ends. Yields the simulator
    and the AIRFLOW_CONN_* variables that reach it."""
    sim = Simulator(root / "simulator", SimulatorConfig(customers=customers, seed=SEED, start_date=day))
    sim.initialize()
    sim.advance(days=1)
    with run_servers(sim.sim_dir, token=TOKEN) as urls:
        yield sim, source_connections(TesseraHome(root), urls.crm, urls.esp, TOKEN)


def test_the_wheel_deployed_on_airflow_extracts_on_schedule_and_the_assets_trigger_the_transform(
    installed: Installed, tmp_path
):
    started = time.monotonic()
    # The latest complete daily interval: the only one due, and the simulated day that fills it.
    interval_start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    world = f"SimulatorConfig(customers=200, seed={SEED}, start_date={interval_start.date()}) advanced a day"
    home = TesseraHome(tmp_path / "tessera-home")
    tessera_env = {
        "TESSERA_HOME": str(home.root),
        "TESSERA_START_DATE": interval_start.isoformat(),
        **airflow_log_settings(home),  # task logs under the home, as docs/deploy.md sets them
    }
    paths = installed.run("tessera", "paths", env=installed.environment(**tessera_env), cwd=tmp_path)
    assert paths.returncode == 0, paths.stderr
    dags_folder = dict(line.split(": ", 1) for line in paths.stdout.splitlines())[
        "dags folder (AIRFLOW__CORE__DAGS_FOLDER)"
    ]

    with (
        simulated_sources(tmp_path / "sources", interval_start.date()) as (sim, connections),
        metadata_database() as metadata_db,
        running_airflow(
            installed, tmp_path / "airflow", dags_folder, metadata_db, tessera_env | connections
        ) as airflow,
    ):
        log.info("%.0fs: %s metadata DB migrated; api-server, scheduler, dag-processor healthy",
                 time.monotonic() - started, metadata_db.split(":")[0])  # fmt: skip
        _wait_for_dags(airflow)
        # The transform first: an Asset event for a paused DAG is dropped, and it would never run.
        airflow.cli("dags", "unpause", "tessera_transform")
        airflow.cli("dags", "unpause", "--treat-dag-id-as-regex", "--yes", "^tessera_extract_")
        log.info("%.0fs: DAGs parsed and unpaused", time.monotonic() - started)
        extract_runs = airflow.wait_for(
            "every extract DAG's scheduled run to succeed", lambda: _finished(airflow, EXTRACT_DAGS), timeout=180
        )
        log.info("%.0fs: extract runs succeeded", time.monotonic() - started)
        (transform_run,) = airflow.wait_for(
            "the Asset-triggered tessera_transform run to succeed",
            lambda: _finished(airflow, ["tessera_transform"]),
            timeout=600,  # one dbt build, then ~45 node tasks, each a task start on a shared machine
            every=3,
        )["tessera_transform"]
        log.info("%.0fs: transform run succeeded", time.monotonic() - started)
        published = airflow.api(
            "GET",
            f"/dags/tessera_transform/dagRuns/{transform_run['dag_run_id']}"
            "/taskInstances/publish_marts/xcomEntries/return_value",
            params={"deserialize": True},
        )["value"]
        listed = _json_output(airflow.cli("dags", "list-runs", "tessera_transform", "--output", "json").stdout)
    log.info("%.0fs: Airflow stopped", time.monotonic() - started)
    status = installed.run("tessera", "status", env=installed.environment(**tessera_env), cwd=tmp_path)

    # The scheduler made the extract runs from each DAG's schedule, for the latest complete interval (a web
    # run for the next hour joins if the clock passes the hour meanwhile); the first carries the data.
    assert set(extract_runs) == set(EXTRACT_DAGS)
    for runs in extract_runs.values():
        assert all(r["run_type"] == "scheduled" and r["state"] == "success" for r in runs), runs
        assert sim.clock <= datetime.fromisoformat(runs[0]["data_interval_end"]) <= datetime.now(UTC), runs[0]

    # Each stream landed its batch, named after its run's data interval, under TESSERA_HOME.
    for contract in registry().streams:
        runs = extract_runs[registry().source(contract.source).dag_id]
        batch_ids = [datetime.fromisoformat(r["data_interval_start"]).strftime("%Y%m%dT%H%M%SZ") for r in runs]
        lake = landed(home.lake, contract.source, contract.stream)
        by_batch = dict(Counter(lake.column("_batch_id").to_pylist())) if lake.num_rows else {}
        assert by_batch.get(batch_ids[0], 0) > 0 and set(by_batch) <= set(batch_ids), (contract.name, by_batch)
        assert contract.stream in status.stdout, status.stdout

    # The transform ran because the Assets were updated, not from a schedule or by hand.
    assert transform_run["run_type"] == "asset_triggered" and transform_run["state"] == "success"
    assert [(r["run_id"], r["state"]) for r in listed] == [(transform_run["dag_run_id"], "success")]

    # The published warehouse under TESSERA_HOME holds the golden customers the run published, resolved correctly.
    assert published["path"] == str(home.root / "published" / "warehouse.duckdb")
    with duckdb.connect(published["path"], read_only=True) as con:
        ((golden, attributed),) = con.execute(
            "select count(*), (select count(distinct customer_id) from marts.customer_xref) from marts.golden_customers"
        ).fetchall()
        xref = con.sql("select source, stream, record_id, customer_id from marts.customer_xref").to_arrow_table()
        linkable = linkable_records(con)
    tables = published["tables"]
    assert tables["golden_customers"] == golden == attributed and tables["customer_xref"] == xref.num_rows
    assert set(xref.column("source").to_pylist()) == set(registry().sources)
    scores = pairwise_scores(xref, sim.ground_truth(), scope=linkable)
    assert scores.precision >= 0.97 and scores.recall >= 0.93, f"{scores.summary()} on {world}"

    # Each task run wrote its own log under the home, by DAG, run and task, and no log holds an e-mail address.
    task_logs = sorted(airflow_logs_dir(home).rglob("*.log"))
    transform_logs = [p for p in task_logs if p.is_relative_to(airflow_logs_dir(home) / "tessera_transform")]
    assert any(p.name.startswith("publish_marts") for p in transform_logs), task_logs
    assert {p.relative_to(airflow_logs_dir(home)).parts[0] for p in task_logs} >= {*EXTRACT_DAGS, "tessera_transform"}
    for path in task_logs:
        assert not EMAIL.search(path.read_text(errors="replace")), f"{path} holds an e-mail address"


def _wait_for_dags(airflow: Airflow) -> None:
    """The dag-processor has parsed the bundled DAGs without import errors; each starts paused."""
    from tessera.orchestration import activation_dags

    # The wheel bundles the same manifest; the erasure DAG serves request files, the training DAG the predictors.
    expected = {*EXTRACT_DAGS, "tessera_transform", "tessera_erasure", "tessera_train_predictors", *activation_dags()}

    def parsed() -> list[dict] | None:
        errors = airflow.api("GET", "/importErrors")["import_errors"]
        if errors:
            raise DeploymentError(f"DAG import errors: {errors}")
        dags = airflow.api("GET", "/dags", params={"dag_id_pattern": "tessera_", "limit": 100})["dags"]
        return dags if {d["dag_id"] for d in dags} == expected else None

    dags = airflow.wait_for("the dag-processor to parse the bundled DAGs", parsed, timeout=120)
    assert all(d["is_paused"] for d in dags)


def _finished(airflow: Airflow, dag_ids: list[str]) -> dict[str, list[dict]] | None:
    """Each DAG's runs, once every DAG has runs and all of them succeeded; raises as soon as a task fails
    or waits for a retry, with its log."""
    troubled = airflow.troubled_tasks()
    if troubled:
        raise DeploymentError(
            "tasks failed or are waiting for a retry: "
            + ", ".join(f"{t['dag_id']}.{t['task_id']} ({t['state']})" for t in troubled)
            + "\n"
            + airflow.task_logs(troubled)
        )
    runs = {dag_id: airflow.dag_runs(dag_id) for dag_id in dag_ids}
    for dag_id, dag_runs in runs.items():
        if any(r["state"] == "failed" for r in dag_runs):
            raise DeploymentError(f"a {dag_id} run failed: {dag_runs}\n{airflow.logs()}")
    return runs if all(r and all(x["state"] == "success" for x in r) for r in runs.values()) else None


def _json_output(stdout: str) -> list[dict]:
    """The JSON an `airflow … --output json` command printed (Airflow may log warnings on stdout first)."""
    (document,) = [line for line in stdout.splitlines() if line.startswith("[")]
    return json.loads(document)
