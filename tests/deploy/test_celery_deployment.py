"""The installed wheel (with its `celery` and `spark` extras) on a real Airflow 3.3 with the CeleryExecutor:
api-server, scheduler and dag-processor, and two `airflow celery worker` processes, each with its own hostname
and working directory, taking tasks from a Redis database of their own; the metadata DB (and Celery's result
backend) on PostgreSQL. The warehouse builds on Spark and the lake is in a bucket of a real S3 server. The
whole way: the extract DAGs run on schedule and land the simulated sources' batches in the bucket, checked by
their gates; their Assets trigger the transform (dbt build on Spark, the tables served to the DuckDB working
file, the golden checks, the publication); then an activation DAG syncs a segment to a file destination under
the home. Both workers run task instances. This is section 10 of `docs/deploy.md`.

`tests/deploy/test_airflow_deployment.py` runs the DuckDB warehouse on a local lake (LocalExecutor): one
Celery deployment run is all the time budget allows."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import duckdb
import pyarrow.csv as pa_csv
import pytest

from tessera.activation.state import open_state
from tessera.connections import connection_env
from tessera.home import TesseraHome
from tessera.logs import airflow_logs_dir
from tests.deploy.airflow_cluster import (
    EMAIL,
    EXTRACT_DAGS,
    SEED,
    Airflow,
    Celery,
    bundled_dag_ids,
    bundled_dags_folder,
    check_extracts_landed,
    check_golden_customers,
    extract_then_transform,
    latest_complete_day,
    metadata_database,
    running_airflow,
    simulated_sources,
    target_manifest,
    tessera_environment,
)
from tests.deploy.installed import Installed

# One Airflow deployment at a time (with test_airflow_deployment.py): two on 2 cores slow each other past their waits.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(3600),
]

log = logging.getLogger(__name__)

CUSTOMERS = 200
#: The activation the test runs: a segment whose only destination on this schedule is a file drop.
SEGMENT, DESTINATION = "one_time_buyers", "marketing_drop"
ACTIVATION_DAG = "tessera_activate_one_time_buyers_0_6"
#: The wait for the transform run: on Spark, a session start and a build several times DuckDB's, then the serving.
TRANSFORM_TIMEOUT = 2400


@pytest.fixture
def settings(request, installed: Installed, tmp_path) -> dict[str, str]:
    """The Tessera settings of the variant `request.param` names, for every process of the deployment."""
    variant = request.param
    if variant == "spark-warehouse-s3-lake":
        store = request.getfixturevalue("object_store")
        lake = request.getfixturevalue("s3_lake")  # the test process reads the bucket with the same variables
        return {
            "TESSERA_DBT_TARGET": "spark",
            # The transform DAG mirrors the Spark build's models: rendered from the project parsed for Spark.
            "TESSERA_DBT_MANIFEST": str(target_manifest(installed, "spark", tmp_path / "spark-manifest")),
            "TESSERA_LAKE": str(lake),
            **store.environment,
        }
    raise ValueError(f"unknown deployment variant {variant!r}")


@pytest.mark.parametrize(
    "settings",
    # Each deployment variant is one set of Tessera settings for every process (a warehouse target, a lake
    # URL, ...): the same pipeline and checks run on each.
    [pytest.param("spark-warehouse-s3-lake", id="spark-warehouse-s3-lake")],
    indirect=True,
)
def test_the_wheel_on_celery_workers_runs_extract_transform_check_and_sync(
    installed: Installed, tmp_path, settings: dict[str, str]
):
    started = time.monotonic()
    interval_start = latest_complete_day()
    world = f"SimulatorConfig(customers={CUSTOMERS}, seed={SEED}, start_date={interval_start.date()}) advanced a day"
    home = TesseraHome(tmp_path / "tessera-home", lake_location=settings.get("TESSERA_LAKE"))
    exports = home.root / "activation" / "exports"
    destination = connection_env(
        f"tessera_dest_{DESTINATION}", conn_type="fs", extra={"kind": "files", "path": str(exports)}
    )
    tessera_env = tessera_environment(home, interval_start, destination | settings)
    dags_folder = bundled_dags_folder(installed, tessera_env, tmp_path)
    celery = Celery(workers=2, concurrency=2)

    def progress(what: str) -> None:
        log.info("%.0fs: %s", time.monotonic() - started, what)

    with (
        simulated_sources(tmp_path / "sources", interval_start.date(), customers=CUSTOMERS) as (sim, connections),
        metadata_database() as metadata_db,
        running_airflow(
            installed, tmp_path / "airflow", dags_folder, metadata_db, tessera_env | connections, celery=celery
        ) as airflow,
    ):
        progress(f"api-server, scheduler, dag-processor healthy; Celery workers answer: {airflow.celery_workers()}")
        airflow.wait_for_dags(bundled_dag_ids())
        extract_runs, transform_run = extract_then_transform(airflow, progress, transform_timeout=TRANSFORM_TIMEOUT)
        published = airflow.xcom("tessera_transform", transform_run["dag_run_id"], "publish_marts")
        sync_runs = _sync_segment(airflow)
        progress("activation run succeeded")
        synced = airflow.xcom(ACTIVATION_DAG, sync_runs[-1]["dag_run_id"], f"sync_{DESTINATION}")
        task_instances = airflow.task_instances()
        executed = airflow.worker_task_instances()
    progress("Airflow stopped")
    status = installed.run("tessera", "status", env=installed.environment(**tessera_env), cwd=tmp_path)

    # Extract: the scheduler made each extract DAG's run from its schedule; every stream landed its batch
    # under TESSERA_HOME and passed its gate (a held batch publishes no Asset, and the transform would not run).
    check_extracts_landed(home, sim, extract_runs, status.stdout)

    # Transform and check: the Assets triggered the transform; the build passed the golden checks and was
    # published, with the simulator's customers resolved against its ground truth.
    assert transform_run["run_type"] == "asset_triggered" and transform_run["state"] == "success"
    transform_tasks = {ti["task_id"]: ti["state"] for ti in task_instances if ti["dag_id"] == "tessera_transform"}
    assert {transform_tasks.get(t) for t in ("check_pending_batches", "check_marts", "publish_marts")} == {"success"}
    golden = check_golden_customers(home, published, sim, world)
    _check_where_it_ran(home, transform_run, settings)

    # Sync: the file destination under the home holds the segment's consented, unsuppressed members, as the
    # published warehouse has them, and the task reported as many.
    assert all(r["state"] == "success" for r in sync_runs), sync_runs
    expected = _segment_audience(home, published["path"])
    delivered = _delivered_keys(exports)
    assert delivered == expected and 0 < len(expected) < golden, (len(delivered), len(expected), golden)
    assert synced["status"] == "success" and synced["members"] == len(expected), synced

    # Both workers ran task instances, and every task instance that ran was run by one of them (the scheduler
    # marks an EmptyOperator done itself, without an executor), on a host Airflow recorded.
    ran = {ti["id"] for ti in task_instances if ti["state"] == "success" and ti["operator"] != "EmptyOperator"}
    assert all(ti["hostname"] for ti in task_instances if ti["id"] in ran)
    by_worker = {worker: ids & ran for worker, ids in executed.items()}
    log.info("task instances run per worker: %s", {w: len(ids) for w, ids in by_worker.items()})
    assert set(by_worker) == set(celery.worker_names())
    assert all(by_worker.values()), f"a worker ran no task instance: { {w: len(i) for w, i in by_worker.items()} }"
    assert set().union(*by_worker.values()) == ran
    assert not set.intersection(*by_worker.values())

    # The workers wrote every task's log under the home; no log holds an e-mail address.
    task_logs = sorted(airflow_logs_dir(home).rglob("*.log"))
    dags_logged = {p.relative_to(airflow_logs_dir(home)).parts[0] for p in task_logs}
    assert dags_logged >= {*EXTRACT_DAGS, "tessera_transform", ACTIVATION_DAG}, dags_logged
    for path in task_logs:
        assert not EMAIL.search(path.read_text(errors="replace")), f"{path} holds an e-mail address"


def _check_where_it_ran(home: TesseraHome, transform_run: dict, settings: dict[str, str]) -> None:
    """The variant's settings reached the tasks: on Spark the producer built the marts in Spark's warehouse
    under the home and served them to the DuckDB working file (its log says so); with a lake in a bucket,
    nothing landed in a lake folder under the home (the extracts wrote to the bucket, which
    `check_extracts_landed` read)."""
    if settings.get("TESSERA_DBT_TARGET") == "spark":
        assert list((home.root / "spark" / "warehouse" / "marts.db" / "golden_customers").glob("*.parquet"))
        producer_log = airflow_logs_dir(home) / "tessera_transform" / transform_run["dag_run_id"]
        served = re.search(
            r"served the Spark build to the working warehouse (\S+): (\d+) tables",
            (producer_log / "dbt.dbt_producer_watcher.log").read_text(),
        )
        assert served and served.group(1) == str(home.warehouse) and int(served.group(2)) > 40, served
    if settings.get("TESSERA_LAKE"):
        assert not (home.root / "lake").exists()


def _sync_segment(airflow: Airflow) -> list[dict]:
    """Trigger the segment's activation DAG once the marts are published (it runs on a cron schedule, not on
    the Assets), unpause it, and wait for its runs to succeed."""
    airflow.api("POST", f"/dags/{ACTIVATION_DAG}/dagRuns", json={"logical_date": None})
    airflow.cli("dags", "unpause", ACTIVATION_DAG)
    return airflow.wait_for(
        f"the {ACTIVATION_DAG} run to succeed", lambda: airflow.finished([ACTIVATION_DAG]), timeout=300
    )[ACTIVATION_DAG]


def _segment_audience(home: TesseraHome, warehouse: str) -> set[str]:
    """Who a marketing destination of the segment must hold: its members with marketing consent who are not
    suppressed, less the rows the sync found invalid (kept in its state with the reason)."""
    with duckdb.connect(warehouse, read_only=True) as con:
        consented = {
            key
            for (key,) in con.execute(
                f"""
                select seg.customer_id
                from segments.{SEGMENT} as seg join marts.golden_customers as golden using (customer_id)
                where golden.marketing_consent
                  and seg.customer_id not in (select customer_id from marts.customer_suppressions)
                """
            ).fetchall()
        }
    with open_state(home, SEGMENT, DESTINATION) as state:
        invalid = {key for (key,) in state.execute("select key from invalid_rows").fetchall()}
    return consented - invalid


def _delivered_keys(exports) -> set[str]:
    """The customers in the export `latest.json` names (the newest complete run's file)."""
    latest = json.loads((exports / SEGMENT / "latest.json").read_text())
    table = pa_csv.read_csv(
        io.BytesIO((exports / latest["file"]).read_bytes()),
        convert_options=pa_csv.ConvertOptions(column_types={"customer_id": "string"}),
    )
    return set(table.column("customer_id").to_pylist())
