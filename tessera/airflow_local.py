"""The embedded default Airflow: SQLite metadata DB under `$TESSERA_HOME/airflow`, DAGs run with `dag.test()`.

`configure()` must run before anything imports Airflow, because Airflow reads its settings at
import. Values already in the environment win, so the same commands run against a real
deployment's configuration (e.g. a PostgreSQL metadata DB) when one is set.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import datetime
from functools import cache

from tessera.home import TesseraHome, tessera_home
from tessera.logs import airflow_log_settings, dbt_log_settings, route_airflow_logging, task_log_path, write_task_logs
from tessera.resources import dags_folder
from tessera.telemetry import TELEMETRY_OFF, turn_off_telemetry

log = logging.getLogger(__name__)


def airflow_environment(home: TesseraHome) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home.airflow),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home.airflow / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # Task logs under $TESSERA_HOME/logs/airflow/<dag_id>/<run_id>/<task_id>.log, dbt's under logs/dbt/.
        **airflow_log_settings(home),
        **dbt_log_settings(home),
        # Nothing phones home (tessera.telemetry): the embedded default runs with no network beyond loopback.
        **TELEMETRY_OFF,
        "TESSERA_HOME": str(home.root),
    }


def configure(home: TesseraHome) -> None:
    if "airflow" in sys.modules:
        log.debug("airflow was imported before configure(); its settings come from the environment as it was")
    for key, value in airflow_environment(home).items():
        os.environ.setdefault(key, value)
    turn_off_telemetry()
    home.airflow.mkdir(parents=True, exist_ok=True)


def migrate_metadata_db() -> None:
    """Create or upgrade the Airflow metadata DB (idempotent; skipped when it is already current)."""
    marker = os.path.join(os.environ["AIRFLOW_HOME"], ".tessera-migrated")
    airflow = _import_airflow()

    version = airflow.__version__ + os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if os.path.exists(marker) and open(marker).read() == version:
        return
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, env=os.environ.copy()
    )
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stderr[-3000:]}")
    with open(marker, "w") as fh:
        fh.write(version)


def _import_airflow():
    """Airflow, imported: importing it sets up logging its own way, which `route_airflow_logging` undoes."""
    import airflow

    route_airflow_logging()
    return airflow


@cache
def _dagbag():
    _import_airflow()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder()), safe_mode=False)
    if bag.import_errors:
        errors = "\n".join(f"{path}: {err}" for path, err in bag.import_errors.items())
        raise RuntimeError(f"DAG import errors:\n{errors}")
    return bag


def run_dag(dag_id: str, logical_date: datetime) -> None:
    """Run one DAG for the data interval that ends at `logical_date`; raise if any task failed, naming each
    failed task's log.

    `dag.test()` runs the tasks in this process, where Airflow writes no task log file: here each task run
    logs to `$TESSERA_HOME/logs/airflow/<dag_id>/<run_id>/<task_id>.log`, as a deployment's workers do
    (`tessera.logs`), in Tessera's one format and masked."""
    bag = _dagbag()
    home = tessera_home()
    write_task_logs(home)
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise KeyError(f"no DAG {dag_id!r} in {dags_folder()}")
    run = dag.test(logical_date=logical_date)
    if str(run.state) != "success":
        instances = run.get_task_instances()
        failed = [ti.task_id for ti in instances if str(ti.state) != "success"]
        logs = ", ".join(
            str(task_log_path(home, dag_id, run.run_id, ti.task_id, ti.map_index))
            for ti in instances
            if str(ti.state) == "failed"
        )
        raise RuntimeError(
            f"DAG {dag_id} run for {logical_date.isoformat()} ended {run.state}; failed: {failed}; task logs: {logs}"
        )
