"""A real Airflow 3 deployment of the installed wheel on loopback: `airflow api-server`, `airflow scheduler`
and `airflow dag-processor` as separate processes, with the LocalExecutor or the CeleryExecutor (then also
`airflow celery worker` processes and a Redis database of their own as the broker), watched through the
REST API; and the Tessera pipeline on it: simulated sources, the one Tessera environment, the waits and the
checks that the deployment tests share.

Every process gets the same environment, built from nothing (the test process's own AIRFLOW_* settings do
not leak in), and runs in a working directory of its own: anything written relative to a working directory
(as with an unset TESSERA_HOME) lands away from TESSERA_HOME, where the test looks for the lake and warehouse.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import httpx
import pytest

from connectors.registry import registry
from tessera.home import TesseraHome
from tessera.logs import airflow_log_settings
from tests.deploy.installed import Installed
from tests.lake_reader import landed

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DeploymentError(AssertionError):
    """The deployment did not reach a state it should have; the message carries the logs to triage it."""


@dataclass(frozen=True)
class Celery:
    """Run the deployment on the CeleryExecutor: `workers` × `airflow celery worker`, each with its own
    hostname, working directory and `concurrency` task slots, consuming `queue` (every task's queue here)."""

    workers: int = 2
    concurrency: int = 2
    queue: str = "tessera"

    def worker_names(self) -> list[str]:
        return [f"celery-worker-{n}" for n in range(1, self.workers + 1)]


@dataclass
class Airflow:
    installed: Installed
    root: Path
    env: dict[str, str]
    port: int
    celery: Celery | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _token: str | None = None

    @property
    def home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # Processes -------------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """An `airflow …` command with the deployment's environment; raises with its output if it fails."""
        done = self.installed.run("airflow", *args, env=self.env, cwd=self._workdir("cli"), timeout=timeout)
        if done.returncode != 0:
            raise DeploymentError(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def start(self, component: str, *args: str, command: tuple[str, ...] | None = None) -> None:
        """Start `airflow <component> <args>` (or `airflow <command> <args>`) as a process of its own, in
        its own working directory, logging to `logs/<component>.log`."""
        log = (self.root / "logs").joinpath(f"{component}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            self.processes[component] = subprocess.Popen(
                [str(self.installed.bin / "airflow"), *(command or (component,)), *args],
                env=self.env,
                cwd=self._workdir(component),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it stops the workers it forked
            )

    def stop(self, grace: float = 30) -> None:
        """Stop every process this deployment started (and what they forked), by process group id."""
        for component in reversed(list(self.processes)):
            process = self.processes[component]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # whatever of the group is left (the leader, or workers it left behind)
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)

    def _workdir(self, name: str) -> Path:
        folder = self.root / "cwd" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def check_alive(self) -> None:
        for component, process in self.processes.items():
            if process.poll() is not None:
                raise DeploymentError(f"airflow {component} exited with {process.returncode}\n{self.logs()}")

    # Waiting ---------------------------------------------------------------------------------
    def wait_for(self, what: str, probe: Callable[[], T | None], timeout: float, every: float = 2.0) -> T:
        """Poll `probe` until it returns something truthy; fail with the logs on timeout or a dead process."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise DeploymentError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.logs()}")
            time.sleep(every)

    # REST API --------------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs) -> Any:
        if self._token is None:
            self._token = self._login()
        response = httpx.request(
            method, f"{self.url}/api/v2{path}", headers={"Authorization": f"Bearer {self._token}"}, timeout=30, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def _login(self) -> str:
        """The simple auth manager's admin, with the password the api-server generated at start-up."""
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        response = httpx.post(
            f"{self.url}/auth/token", json={"username": "admin", "password": passwords["admin"]}, timeout=30
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def health(self) -> dict[str, str] | None:
        try:
            response = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
        except httpx.TransportError:
            return None
        if response.status_code != 200:
            return None
        return {part: body.get("status") for part, body in response.json().items() if isinstance(body, dict)}

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after"})["dag_runs"]

    def task_instances(self, dag_id: str = "~", run_id: str = "~") -> list[dict]:
        """Task instances of a run (`~`: of every run, every DAG), all pages of them."""
        found: list[dict] = []
        while True:
            page = self.api(
                "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100, "offset": len(found)}
            )
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        return self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": True},
        )["value"]

    def troubled_tasks(self) -> list[dict]:
        """Task instances that failed or wait for a retry, in any DAG: a reason to stop waiting."""
        return self.api(
            "GET", "/dags/~/dagRuns/~/taskInstances", params=[("state", "failed"), ("state", "up_for_retry")]
        )["task_instances"]

    def wait_for_dags(self, expected: set[str]) -> list[dict]:
        """The dag-processor has parsed the DAGs `expected` without import errors; each starts paused."""

        def parsed() -> list[dict] | None:
            errors = self.api("GET", "/importErrors")["import_errors"]
            if errors:
                raise DeploymentError(f"DAG import errors: {errors}")
            dags = self.api("GET", "/dags", params={"dag_id_pattern": "tessera_", "limit": 100})["dags"]
            return dags if {d["dag_id"] for d in dags} == expected else None

        dags = self.wait_for("the dag-processor to parse the bundled DAGs", parsed, timeout=180)
        assert all(d["is_paused"] for d in dags), dags
        return dags

    def finished(self, dag_ids: list[str]) -> dict[str, list[dict]] | None:
        """Each DAG's runs, once every DAG has runs and all of them succeeded; raises as soon as a task fails
        or waits for a retry, with its log."""
        troubled = self.troubled_tasks()
        if troubled:
            raise DeploymentError(
                "tasks failed or are waiting for a retry: "
                + ", ".join(f"{t['dag_id']}.{t['task_id']} ({t['state']})" for t in troubled)
                + "\n"
                + self.task_logs(troubled)
            )
        runs = {dag_id: self.dag_runs(dag_id) for dag_id in dag_ids}
        for dag_id, dag_runs in runs.items():
            if any(r["state"] == "failed" for r in dag_runs):
                raise DeploymentError(f"a {dag_id} run failed: {dag_runs}\n{self.logs()}")
        return runs if all(r and all(x["state"] == "success" for x in r) for r in runs.values()) else None

    # Celery workers ---------------------------------------------------------------------------
    def celery_workers(self) -> dict[str, list[str]]:
        """The Celery workers that answer a broadcast on the broker (`airflow celery list-workers`): node
        name -> the queues it consumes."""
        listed = json_output(self.cli("celery", "list-workers", "--output", "json", timeout=120).stdout)
        return {w["worker_name"]: w["queues"] for w in listed}

    def worker_task_instances(self) -> dict[str, set[str]]:
        """Which task instances (by id) each Celery worker executed, from the line its log has for each
        workload it took from the queue."""
        assert self.celery is not None, "not a Celery deployment"
        return {
            worker: set(WORKLOAD_TI_ID.findall((self.root / "logs" / f"{worker}.log").read_text(errors="replace")))
            for worker in self.celery.worker_names()
        }

    # Diagnostics ------------------------------------------------------------------------------
    def logs(self, lines: int = 60) -> str:
        parts = []
        for component in self.processes:
            text = (self.root / "logs" / f"{component}.log").read_text(errors="replace").splitlines()
            parts.append(f"--- airflow {component} (last {lines} lines) ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    def task_logs(self, tasks: list[dict], lines: int = 80) -> str:
        parts = []
        for ti in tasks:
            # The deployment keeps task logs where the project puts them (`tessera.logs.airflow_log_settings`).
            folder = Path(self.env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]) / ti["dag_id"] / ti["dag_run_id"]
            for path in sorted(folder.glob(f"{ti['task_id']}*.log")):
                text = path.read_text(errors="replace").splitlines()
                parts.append(f"--- {path} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts) or "(no task log files)"


#: What `execute_workload` logs on a Celery worker for each task it runs: the task instance's id comes first.
WORKLOAD_TI_ID = re.compile(r"Executing workload in Celery: .*?\bti=\w+\(id=UUID\('([0-9a-f-]{36})'\)")


def json_output(stdout: str) -> list[dict]:
    """The JSON an `airflow … --output json` command printed (Airflow may log warnings on stdout first)."""
    (document,) = [line for line in stdout.splitlines() if line.startswith("[")]
    return json.loads(document)


def deployment_environment(
    installed: Installed,
    root: Path,
    port: int,
    dags_folder: str,
    metadata_db: str,
    extra: dict[str, str],
    executor: dict[str, str] | None = None,
) -> dict[str, str]:
    """What every Airflow process of the deployment gets (api-server, scheduler, dag-processor, Celery
    workers, and so the task processes the executor starts); `executor` overrides the LocalExecutor."""
    airflow_home = root / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    return installed.environment(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=dags_folder,
        **(executor or {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_db,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__COSMOS__CACHE_DIR=str(root / "cosmos"),
        **extra,
    )


@contextmanager
def metadata_database() -> Iterator[str]:
    """A throwaway database on the machine's PostgreSQL, as a production deployment would have (Airflow 3's
    api-server reaches it through `postgresql+asyncpg` as well, which the wheel depends on)."""
    from tests.sources import throwaway_postgres_database

    with throwaway_postgres_database() as url:
        yield url


#: Marks a Redis database as taken by a deployment test (with an expiry, in case a run dies unflushed), and
#: one that only ever held a deployment test's keys (so leftovers of a killed run may be flushed).
REDIS_CLAIM, REDIS_MARK = "tessera-deploy-test:claim", "tessera-deploy-test:mark"


@contextmanager
def redis_database(host: str = "127.0.0.1", port: int = 6379, hold: timedelta = timedelta(hours=2)) -> Iterator[str]:
    """A Redis database of its own for one deployment's Celery broker, as a `redis://` URL: flushed before
    and after, so parallel runs and the machine's other users never see each other's queues.

    A database is taken when this run sets the claim key in it first (SET NX) and it holds nothing else, or
    only what an earlier deployment test left; databases from 15 down, 0 (everyone's default) never."""
    import redis

    token = uuid.uuid4().hex
    for db in range(15, 0, -1):
        client = redis.Redis(host=host, port=port, db=db)
        try:
            claimed = client.set(REDIS_CLAIM, token, nx=True, ex=hold)
        except redis.ConnectionError as exc:
            if os.environ.get("CI"):
                raise DeploymentError(f"Redis is required in CI and unreachable at {host}:{port}: {exc}") from exc
            pytest.skip(f"Redis unreachable at {host}:{port}")
        if claimed and (client.dbsize() == 1 or client.exists(REDIS_MARK)):
            with client.pipeline(transaction=True) as flush_and_claim:
                flush_and_claim.flushdb().set(REDIS_MARK, "1").set(REDIS_CLAIM, token, ex=hold).execute()
            break
        if claimed:  # someone else's data: leave it as it was
            client.delete(REDIS_CLAIM)
        client.close()
    else:
        raise DeploymentError(f"no free Redis database on {host}:{port} (1-15 are all claimed or in use)")
    try:
        yield f"redis://{host}:{port}/{db}"
    finally:
        client.flushdb()
        client.close()


def celery_environment(celery: Celery, broker_url: str, metadata_db: str) -> dict[str, str]:
    """The CeleryExecutor's settings, the same in every process: the broker, the result backend on the
    metadata DB (SQLAlchemy through Celery's `db+` scheme), and the queue every task goes to."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_db}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": celery.queue,
    }


@contextmanager
def running_airflow(
    installed: Installed,
    root: Path,
    dags_folder: str,
    metadata_db: str,
    extra_env: dict[str, str],
    celery: Celery | None = None,
) -> Iterator[Airflow]:
    """Migrate the metadata DB, start the api-server, scheduler and dag-processor (and with `celery`, its
    workers on a Redis database of their own), wait until all are healthy; stop them all on the way out,
    whatever happened."""
    with redis_database() if celery else nullcontext() as broker_url:
        port = free_port()
        executor = celery_environment(celery, broker_url, metadata_db) if celery else None
        env = deployment_environment(installed, root, port, dags_folder, metadata_db, extra_env, executor)
        airflow = Airflow(installed, root, env, port, celery)
        airflow.cli("db", "migrate")
        try:
            airflow.start("api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1")
            airflow.start("scheduler")
            airflow.start("dag-processor")
            if celery:
                _start_celery_workers(airflow, celery)
            airflow.wait_for(
                "the api-server, scheduler and dag-processor to report healthy",
                lambda: (
                    (h := airflow.health())
                    and all(h.get(part) == "healthy" for part in ("metadatabase", "scheduler", "dag_processor"))
                ),
                timeout=120,
            )
            if celery:
                expected = {f"celery@{name}": [celery.queue] for name in celery.worker_names()}
                airflow.wait_for(
                    f"the Celery workers {sorted(expected)} to answer on queue {celery.queue!r}",
                    lambda: airflow.celery_workers() == expected,
                    timeout=180,
                    every=3,
                )
            yield airflow
        finally:
            airflow.stop()


def _start_celery_workers(airflow: Airflow, celery: Celery) -> None:
    """`airflow celery worker` per worker, as on a worker machine. Two on one machine would both serve logs
    on port 8793, so they serve none: the task logs are files under the shared TESSERA_HOME."""
    for name in celery.worker_names():
        airflow.start(
            name,
            "--celery-hostname", name,
            "--queues", celery.queue,
            "--concurrency", str(celery.concurrency),
            "--skip-serve-logs",
            "--pid", str(airflow.root / f"{name}.pid"),
            command=("celery", "worker"),
        )  # fmt: skip


# The Tessera pipeline on a deployment ------------------------------------------------------------------

TOKEN = "deploy-test-token"
SEED = 5
EXTRACT_DAGS = sorted(source.dag_id for source in registry().sources.values())
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def latest_complete_day() -> datetime:
    """The start of the latest complete daily interval: the only one due, and the simulated day that fills it."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)


def tessera_environment(home: TesseraHome, interval_start: datetime, settings: dict[str, str] | None = None):
    """The Tessera settings of every process of a deployment, in one place: the home, the first interval,
    task logs under the home (as docs/deploy.md sets them), and `settings` over them (a warehouse target,
    a lake on object storage, destinations' connections)."""
    return {
        "TESSERA_HOME": str(home.root),
        "TESSERA_START_DATE": interval_start.isoformat(),
        **airflow_log_settings(home),
        **(settings or {}),
    }


def bundled_paths(installed: Installed, tessera_env: dict[str, str], cwd: Path) -> dict[str, str]:
    """What `tessera paths` prints for the installed wheel, by label."""
    paths = installed.run("tessera", "paths", env=installed.environment(**tessera_env), cwd=cwd)
    assert paths.returncode == 0, paths.stderr
    return dict(line.split(": ", 1) for line in paths.stdout.splitlines())


def bundled_dags_folder(installed: Installed, tessera_env: dict[str, str], cwd: Path) -> str:
    """The dags folder `tessera paths` prints for the installed wheel (what AIRFLOW__CORE__DAGS_FOLDER is set to)."""
    return bundled_paths(installed, tessera_env, cwd)["dags folder (AIRFLOW__CORE__DAGS_FOLDER)"]


def target_manifest(installed: Installed, target: str, folder: Path) -> Path:
    """The installed wheel's dbt project parsed for `target` into `folder`, as docs/deploy.md section 10 has an
    operator do for a warehouse other than DuckDB (the wheel's manifest is DuckDB's); for TESSERA_DBT_MANIFEST."""
    folder.mkdir(parents=True, exist_ok=True)
    project = bundled_paths(installed, {}, folder)["dbt project"]
    done = installed.run(
        "dbt", "parse", "--project-dir", project, "--profiles-dir", project, "--target", target,
        "--target-path", str(folder), "--log-path", str(folder / "logs"),
        env=installed.environment(), cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder / "manifest.json"


def bundled_dag_ids() -> set[str]:
    """Every DAG the wheel bundles: an extract DAG per source, the transform, the erasure DAG (request files),
    the predictors' training, and an activation DAG per segment and schedule."""
    from tessera.orchestration import activation_dags

    return {*EXTRACT_DAGS, "tessera_transform", "tessera_erasure", "tessera_train_predictors", *activation_dags()}


@contextmanager
def simulated_sources(root: Path, day: date, customers: int = 200):
    """Source systems that have just lived through `day` (their history lies before it), so the daily
    extract runs' data interval [day, day + 1) ends where the simulated data ends. Yields the simulator
    and the AIRFLOW_CONN_* variables that reach it."""
    from tessera_simulator import Simulator, SimulatorConfig
    from tessera_simulator.demo import source_connections
    from tessera_simulator.servers import run_servers

    sim = Simulator(root / "simulator", SimulatorConfig(customers=customers, seed=SEED, start_date=day))
    sim.initialize()
    sim.advance(days=1)
    with run_servers(sim.sim_dir, token=TOKEN) as urls:
        yield sim, source_connections(TesseraHome(root), urls.crm, urls.esp, TOKEN)


def extract_then_transform(
    airflow: Airflow, progress: Callable[[str], None], transform_timeout: float = 600
) -> tuple[dict[str, list[dict]], dict]:
    """Unpause the transform, then the extract DAGs (docs/deploy.md section 7), and wait for the scheduled
    extract runs and the Asset-triggered transform run to succeed: (extract runs by DAG, the transform run).
    `transform_timeout` is the wait for the transform run (a build on Spark takes several times DuckDB's)."""
    # The transform first: an Asset event for a paused DAG is dropped, and it would never run.
    airflow.cli("dags", "unpause", "tessera_transform")
    airflow.cli("dags", "unpause", "--treat-dag-id-as-regex", "--yes", "^tessera_extract_")
    progress("DAGs unpaused")
    extract_runs = airflow.wait_for(
        "every extract DAG's scheduled run to succeed", lambda: airflow.finished(EXTRACT_DAGS), timeout=300
    )
    progress("extract runs succeeded")
    (transform_run,) = airflow.wait_for(
        "the Asset-triggered tessera_transform run to succeed",
        lambda: airflow.finished(["tessera_transform"]),
        timeout=transform_timeout,  # one dbt build, then ~45 node tasks, each a task start on a shared machine
        every=3,
    )["tessera_transform"]
    progress("transform run succeeded")
    return extract_runs, transform_run


def check_extracts_landed(home: TesseraHome, sim, extract_runs: dict[str, list[dict]], status: str) -> None:
    """The scheduler made the extract runs from each DAG's schedule, for the latest complete interval (a run
    for the next hour joins if the clock passes the hour meanwhile), the first carries the data, and each
    stream landed its batch, named after its run's data interval, under TESSERA_HOME (`tessera status` too)."""
    assert set(extract_runs) == set(EXTRACT_DAGS)
    for runs in extract_runs.values():
        assert all(r["run_type"] == "scheduled" and r["state"] == "success" for r in runs), runs
        assert sim.clock <= datetime.fromisoformat(runs[0]["data_interval_end"]) <= datetime.now(UTC), runs[0]
    for contract in registry().streams:
        runs = extract_runs[registry().source(contract.source).dag_id]
        batch_ids = [datetime.fromisoformat(r["data_interval_start"]).strftime("%Y%m%dT%H%M%SZ") for r in runs]
        lake = landed(home.lake, contract.source, contract.stream)
        by_batch = dict(Counter(lake.column("_batch_id").to_pylist())) if lake.num_rows else {}
        assert by_batch.get(batch_ids[0], 0) > 0 and set(by_batch) <= set(batch_ids), (contract.name, by_batch)
        assert contract.stream in status, status


def check_golden_customers(home: TesseraHome, published: dict, sim, world: str) -> int:
    """The published warehouse under TESSERA_HOME holds the golden customers the run published, each source
    attributed, resolved correctly against the simulator's ground truth: as many customers hold the
    recognisable records as there are people behind them, give or take 3 %; returns the golden count."""
    from tessera_simulator.identity_accuracy import linkable_records, pairwise_scores

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
    truth = sim.ground_truth()
    scores = pairwise_scores(xref, truth, scope=linkable)
    assert scores.precision >= 0.97 and scores.recall >= 0.93, f"{scores.summary()} on {world}"
    ((customers, people),) = duckdb.sql(
        """
        select count(distinct xref.customer_id), count(distinct truth.person_id)
        from xref join linkable using (source, stream, record_id) join truth using (source, stream, record_id)
        """
    ).fetchall()
    assert people > 0 and abs(customers - people) <= 0.03 * people, (customers, people, world)
    return golden
