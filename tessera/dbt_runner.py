"""Run the dbt project (`dbt_project/`) from Python, against one `$TESSERA_HOME`.

The CLI, the demo and Airflow tasks all build the warehouse this way, so they share one
definition of where the project, its profiles and its artifacts live. Artifacts (manifest, run
results, logs) go under the home, which keeps separate homes (tests, demos) from overwriting
each other's and keeps `dbt_project/` free of run output.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dbt.cli.main import dbtRunner, dbtRunnerResult

from tessera.home import PROJECT_ROOT, TesseraHome

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
_FAILED = {"error", "fail", "runtime error"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def dbt_artifacts_dir(home: TesseraHome) -> Path:
    """Where dbt writes its manifest, run results and logs for this home."""
    return home.root / "dbt"


def run_dbt(args: list[str], home: TesseraHome, target: str = "duckdb") -> dbtRunnerResult:
    """Invoke dbt (e.g. `["build", "--select", "staging"]`) on this home's warehouse.

    Project, profiles, target and log paths default to `dbt_project/` and this home's
    `dbt/` folder unless `args` sets them.

    Raises RuntimeError naming every node that failed or errored, with dbt's message, so a
    caller (a DAG task, the CLI) can show what to fix instead of a generic "dbt failed".
    """
    home.root.mkdir(parents=True, exist_ok=True)
    artifacts = dbt_artifacts_dir(home)
    defaults = {
        "--project-dir": str(DBT_PROJECT_DIR),
        "--profiles-dir": str(DBT_PROJECT_DIR),
        "--target-path": str(artifacts / "target"),
        "--log-path": str(artifacts / "logs"),
    }
    full_args = [*args, "--target", target]
    for option, value in defaults.items():
        if option not in args:  # a caller's own choice (e.g. where the manifest goes) wins
            full_args += [option, value]
    log.info("dbt %s", " ".join(args), extra={"home": str(home.root), "target": target})
    with _environment(TESSERA_HOME=str(home.root)):
        result = dbtRunner().invoke(full_args)
    if not result.success:
        raise RuntimeError(describe_failure(args, result))
    return result


def describe_failure(args: list[str], result: dbtRunnerResult) -> str:
    """What went wrong in a dbt invocation: each failed node and its message, or dbt's own error."""
    lines = [f"dbt {' '.join(args)} did not succeed"]
    for node_result in getattr(result.result, "results", None) or []:
        status = str(getattr(node_result.status, "value", node_result.status)).lower()
        if status in _FAILED:
            node = getattr(node_result, "node", None)
            name = getattr(node, "unique_id", None) or "unknown node"
            message = _ANSI.sub("", node_result.message or "").strip()
            lines.append(f"  {name} [{status}]: {message}")
    if result.exception is not None:
        lines.append(f"  {type(result.exception).__name__}: {result.exception}")
    if len(lines) == 1:
        lines.append("  (no failed node reported; see the dbt log)")
    return "\n".join(lines)


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the length of a block: dbt reads `env_var()` from the process."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
