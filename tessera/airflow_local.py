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

from tessera.home import TesseraHome
from tessera.resources import dags_folder

log = logging.getLogger(__name__)


def airflow_environment(home: TesseraHome) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home.airflow),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home.airflow / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # Nothing phones home: the embedded default must run with no network beyond loopback.
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "GX_ANALYTICS_ENABLED": "false",
        "TESSERA_HOME": str(home.root),
    }


def configure(home: TesseraHome) -> None:
    if "airflow" in sys.modules:
        log.debug("airflow was imported before configure(); its settings come from the environment as it was")
    for key, value in airflow_environment(home).items():
        os.environ.setdefault(key, value)
    home.airflow.mkdir(parents=True, exist_ok=True)


def migrate_metadata_db() -> None:
    """Create or upgrade the Airflow metadata DB (idempotent; skipped when it is already current)."""
    marker = os.path.join(os.environ["AIRFLOW_HOME"], ".tessera-migrated")
    import airflow

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


@cache
def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder()), safe_mode=False)
    if bag.import_errors:
        errors = "\n".join(f"{path}: {err}" for path, err in bag.import_errors.items())
        raise RuntimeError(f"DAG import errors:\n{errors}")
    return bag


def run_dag(dag_id: str, logical_date: datetime) -> None:
    """Run one DAG for the data interval that ends at `logical_date`; raise if any task failed."""
    dag = _dagbag().get_dag(dag_id)
    if dag is None:
        raise KeyError(f"no DAG {dag_id!r} in {dags_folder()}")
    run = dag.test(logical_date=logical_date)
    if str(run.state) != "success":
        failed = [ti.task_id for ti in run.get_task_instances() if str(ti.state) != "success"]
        raise RuntimeError(f"DAG {dag_id} run for {logical_date.isoformat()} ended {run.state}; failed: {failed}")
