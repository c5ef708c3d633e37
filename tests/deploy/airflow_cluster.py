"""A real Airflow 3 deployment of the installed wheel on loopback: `airflow api-server`, `airflow scheduler`
and `airflow dag-processor` as separate processes (LocalExecutor), watched through the REST API.

Every process gets the same environment, built from nothing (the test process's own AIRFLOW_* settings do
not leak in), and runs in a working directory of its own: anything written relative to a working directory
(as with an unset TESSERA_HOME) lands away from TESSERA_HOME, where the test looks for the lake and warehouse.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.deploy.installed import Installed

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DeploymentError(AssertionError):
    """The deployment did not reach a state it should have; the message carries the logs to triage it."""


@dataclass
class Airflow:
    installed: Installed
    root: Path
    env: dict[str, str]
    port: int
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

    def start(self, component: str, *args: str) -> None:
        log = (self.root / "logs").joinpath(f"{component}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            self.processes[component] = subprocess.Popen(
                [str(self.installed.bin / "airflow"), component, *args],
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

    def troubled_tasks(self) -> list[dict]:
        """Task instances that failed or wait for a retry, in any DAG: a reason to stop waiting."""
        return self.api(
            "GET", "/dags/~/dagRuns/~/taskInstances", params=[("state", "failed"), ("state", "up_for_retry")]
        )["task_instances"]

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


def deployment_environment(
    installed: Installed, root: Path, port: int, dags_folder: str, metadata_db: str, extra: dict[str, str]
) -> dict[str, str]:
    """What every Airflow process of the deployment gets (api-server, scheduler, dag-processor and so the
    task processes the LocalExecutor forks)."""
    airflow_home = root / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    return installed.environment(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=dags_folder,
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
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


@contextmanager
def running_airflow(
    installed: Installed, root: Path, dags_folder: str, metadata_db: str, extra_env: dict[str, str]
) -> Iterator[Airflow]:
    """Migrate the metadata DB, start the api-server, scheduler and dag-processor, wait until all are healthy;
    stop them all on the way out, whatever happened."""
    port = free_port()
    env = deployment_environment(installed, root, port, dags_folder, metadata_db, extra_env)
    airflow = Airflow(installed, root, env, port)
    airflow.cli("db", "migrate")
    try:
        airflow.start("api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1")
        airflow.start("scheduler")
        airflow.start("dag-processor")
        airflow.wait_for(
            "the api-server, scheduler and dag-processor to report healthy",
            lambda: (
                (h := airflow.health())
                and all(h.get(part) == "healthy" for part in ("metadatabase", "scheduler", "dag_processor"))
            ),
            timeout=120,
        )
        yield airflow
    finally:
        airflow.stop()
