"""Run the dbt project from Python, against one `$TESSERA_HOME`: the unify step (`tessera transform`).

The CLI, the demo and the tests build the warehouse with `run_transform`; Airflow runs the same project
through Cosmos (`dags/tessera_transform.py`): one `dbt build`, mirrored as a task per node, rendered from
the dbt manifest that `parse_project` writes. All of them share one definition of where the project, its profiles and
its artifacts live. Artifacts (run results, logs) go under the home, which keeps separate homes (tests,
demos) from overwriting each other's and keeps the project folder free of run output.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tessera.home import TesseraHome
from tessera.resources import dbt_project_dir, manifest_path

if TYPE_CHECKING:
    from dbt.cli.main import dbtRunnerResult

log = logging.getLogger(__name__)

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
    project = dbt_project_dir()
    defaults = {
        "--project-dir": str(project),
        "--profiles-dir": str(project),
        "--target-path": str(artifacts / "target"),
        "--log-path": str(artifacts / "logs"),
    }
    full_args = [*args, "--target", target]
    for option, value in defaults.items():
        if option not in args:  # a caller's own choice (e.g. where the manifest goes) wins
            full_args += [option, value]
    log.info("dbt %s", " ".join(args), extra={"home": str(home.root), "target": target})
    from dbt.cli.main import dbtRunner

    from tessera.connections import exported

    with exported(dbt_environment(home)):  # dbt reads `env_var()` from the process
        result = dbtRunner().invoke(full_args)
    if not result.success:
        raise RuntimeError(describe_failure(args, result))
    return result


def dbt_environment(home: TesseraHome) -> dict[str, str]:
    """What the project's `env_var()` calls read: the same data folder and project folder in every process
    (the CLI, a Cosmos task running in its own copy of the project, an analyst's shell)."""
    return {"TESSERA_HOME": str(home.root), "TESSERA_DBT_PROJECT_DIR": str(dbt_project_dir())}


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


def manifest_is_current(manifest: Path | None = None) -> bool:
    manifest = manifest or manifest_path()
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    project = dbt_project_dir()
    sources = [p for d in ("models", "macros", "seeds", "tests") for p in (project / d).rglob("*") if p.is_file()]
    sources.append(project / "dbt_project.yml")
    return all(p.stat().st_mtime <= built for p in sources)


def parse_project(home: TesseraHome, force: bool = False) -> Path:
    """Write the dbt manifest that the transform DAG renders from (skipped when it is current)."""
    manifest = manifest_path()
    if force or not manifest_is_current(manifest):
        run_dbt(["parse", "--target-path", str(manifest.parent)], home)
    return manifest


def target_type(target: str) -> str:
    """The adapter type (`duckdb`, `postgres`) of a target in `dbt_project/profiles.yml`."""
    import yaml

    outputs = yaml.safe_load((dbt_project_dir() / "profiles.yml").read_text())["tessera"]["outputs"]
    if target not in outputs:
        raise ValueError(f"unknown dbt target {target!r}; dbt_project/profiles.yml defines {', '.join(outputs)}")
    return outputs[target]["type"]


#: How production builds run dbt: every model, seed and data test, but no unit tests. Unit tests check the
#: models' logic on fixed fixtures, so they belong to development and CI (an analyst's `dbt build`, `make test`:
#: tests/dbt/test_unit_tests.py), as dbt advises, not to every scheduled build.
PRODUCTION_BUILD_FLAGS = ("--exclude-resource-type", "unit_test")


def run_transform(home: TesseraHome, *, full_refresh: bool = False, target: str = "duckdb", select: str | None = None):
    """The unify step through its gates: check the batches not yet checked, `dbt build` the whole project (or
    a selection) into this home's warehouse, then, for a whole build on DuckDB, check the marts and publish
    them to readers, with what the build read from the lake (`tessera.lake_snapshot`, taken before dbt runs).
    A critical mart failure raises `CheckFailed` and leaves the published marts as they were.

    On a PostgreSQL target the lake is loaded into the database first (`tessera/warehouse_load.py`),
    since PostgreSQL cannot read the Parquet files the sources point at on DuckDB."""
    from tessera.gates import check_built_marts, check_pending_batches

    check_pending_batches(home)
    engine = target_type(target)
    if engine == "postgres":
        from tessera.warehouse_load import load_lake

        load_lake(home)
    args = ["build", *PRODUCTION_BUILD_FLAGS]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    publishes = select is None and engine == "duckdb"
    lake = None
    if publishes:  # what this build reads, taken before it reads it; the publication keeps it
        from tessera.lake_snapshot import take_snapshot

        lake = take_snapshot(home)
    result = run_dbt(args, home, target=target)
    if publishes:
        from tessera.publication import publish_warehouse

        check_built_marts(home)
        publish_warehouse(home, lake=lake)
    return result
