"""Run the dbt project from Python, against one `$TESSERA_HOME`: the unify step (`tessera transform`).

The CLI, the demo and the tests build the warehouse with `run_transform`; Airflow runs the same project
through Cosmos (`dags/tessera_transform.py`): one `dbt build`, mirrored as a task per node, rendered from
the dbt manifest that `parse_project` writes. All of them share one definition of where the project, its profiles and
its artifacts live. Artifacts (run results, logs) go under the home, which keeps separate homes (tests,
demos) from overwriting each other's and keeps the project folder free of run output.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.home import TesseraHome
from tessera.logs import dbt_logs_dir
from tessera.resources import dbt_project_dir, manifest_path

if TYPE_CHECKING:
    from dbt.cli.main import dbtRunnerResult

log = logging.getLogger(__name__)

_FAILED = {"error", "fail", "runtime error"}
#: The unique ids of `on-run-start`/`on-run-end` hooks: reported with a build, but not nodes of its graph.
_HOOK = "operation."
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def dbt_artifacts_dir(home: TesseraHome) -> Path:
    """Where dbt writes its manifest, run results and logs for this home."""
    return home.root / "dbt"


def run_dbt(
    args: list[str],
    home: TesseraHome,
    target: str = "duckdb",
    *,
    progress: Callable[[NodeProgress], None] | None = None,
    echo: Callable[[str], None] | None = None,
) -> dbtRunnerResult:
    """Invoke dbt (e.g. `["build", "--select", "staging"]`) on this home's warehouse.

    Project, profiles, target and log paths default to `dbt_project/` and this home's
    `dbt/` folder unless `args` sets them. dbt prints nothing itself: its log file has its whole output,
    `echo` hears each line dbt would have printed (with its ANSI colours: the caller keeps them only on a
    terminal), and `progress` hears of each node as it starts and finishes.

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
        "--log-path": str(dbt_logs_dir(home)),
    }
    full_args = [*args, "--target", target]
    for option, value in defaults.items():
        if option not in args:  # a caller's own choice (e.g. where the manifest goes) wins
            full_args += [option, value]
    full_args += console_flags(colours=echo is not None)
    log.info("dbt %s", " ".join(args), extra={"home": str(home.root), "target": target})
    from dbt.cli.main import dbtRunner

    from tessera.connections import exported

    if target_type(target) == "spark":
        # dbt-spark's session method runs on the process's session (`getOrCreate`): make it Tessera's first.
        from tessera.spark import spark_session
        from tessera.spark_python_models import install

        spark_session(home)
        install()  # Python models run on that session too
    callbacks = [forward_dbt_event] + ([console_lines_to(echo)] if echo else [])
    with exported(dbt_environment(home)), dbt_progress_to(progress):  # dbt reads `env_var()` from the process
        result = dbtRunner(callbacks=callbacks).invoke(full_args)
    if not result.success:
        raise RuntimeError(describe_failure(args, result, dbt_log_path(home, args)))
    return result


def console_flags(colours: bool) -> list[str]:
    """dbt prints nothing to the console itself: it would write to the stdout it found at import, in colour
    or not by its own guess. What it would print goes through `console_lines_to` instead, to the caller's
    console, which knows whether it is a terminal. The log file keeps dbt's usual detail, without colours
    (it follows the console's level and colours unless told otherwise)."""
    return [
        "--use-colors" if colours else "--no-use-colors",
        "--no-use-colors-file",
        "--log-level",
        "none",
        "--log-level-file",
        "debug",
    ]


#: dbt events its console never shows, even at info level.
_NOT_FOR_THE_CONSOLE = frozenset({"CacheAction", "CacheDumpGraph"})


def console_lines_to(echo: Callable[[str], None]) -> Callable[[Any], None]:
    """A dbt callback that hands `echo` each line dbt prints on its console (info level and above), as
    `HH:MM:SS  message` like dbt's own."""

    def print_line(event: Any) -> None:
        info = event.info
        if info.level in ("info", "warn", "error") and info.msg and info.name not in _NOT_FOR_THE_CONSOLE:
            echo(f"{info.ts.ToDatetime():%H:%M:%S}  {info.msg}")

    return print_line


def dbt_log_path(home: TesseraHome, args: list[str] | None = None) -> Path:
    """The log file of this home's dbt invocations (or of the `--log-path` given), where dbt's whole output is."""
    args = args or []
    if "--log-path" in args and args.index("--log-path") + 1 < len(args):
        return Path(args[args.index("--log-path") + 1]) / "dbt.log"
    return dbt_logs_dir(home) / "dbt.log"


@dataclass(frozen=True)
class NodeProgress:
    """Where a dbt invocation is: how many of its nodes have finished, and the node that just started or
    finished (`status` is None when it started, else dbt's status: success, pass, error, fail, skipped …)."""

    done: int
    total: int | None
    node: str
    resource_type: str
    status: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in _FAILED


@dataclass
class _NodeCounter:
    """Turns dbt's events into `NodeProgress`. dbt calls back from its worker threads, hence the lock."""

    report: Callable[[NodeProgress], None]
    done: int = 0
    total: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Any) -> None:
        name = event.info.name
        if name not in ("NodeStart", "NodeFinished", "LogStartLine"):
            return
        data = event.data
        node = data.node_info
        with self.lock:
            if name == "LogStartLine":
                self.total = data.total or self.total
                return
            if name == "NodeFinished":
                self.done += 1
            update = NodeProgress(
                done=self.done,
                total=self.total,
                node=node.node_name,
                resource_type=node.resource_type,
                status=node.node_status if name == "NodeFinished" else None,
            )
        self.report(update)


_listeners: list[Callable[[Any], None]] = []
_listeners_lock = threading.Lock()


def forward_dbt_event(event: Any) -> None:
    """A dbt callback (`dbtRunner(callbacks=[...])`) that hands each event to the listeners of this process
    (`dbt_progress_to`). `run_dbt` passes it; so can an in-process dbt run elsewhere (Cosmos's producer,
    `dbt_runner_callbacks`), which is how the demo shows the transform DAG's build as it goes. A listener's
    error never stops the build."""
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - progress is a courtesy; dbt would turn the error into a node failure
            log.debug("a dbt progress listener failed", exc_info=True)


@contextmanager
def dbt_progress_to(report: Callable[[NodeProgress], None] | None) -> Iterator[None]:
    """While the block runs, every dbt invocation in this process that forwards its events
    (`forward_dbt_event`) reports its nodes' progress to `report`."""
    if report is None:
        yield
        return
    counter = _NodeCounter(report)
    with _listeners_lock:
        _listeners.append(counter)
    try:
        yield
    finally:
        with _listeners_lock:
            _listeners.remove(counter)


def dbt_environment(home: TesseraHome) -> dict[str, str]:
    """What the project's `env_var()` calls read: the same data folder and project folder in every process
    (the CLI, a Cosmos task running in its own copy of the project, an analyst's shell)."""
    from connectors.lake_storage import LAKE_VARIABLE

    environment = {"TESSERA_HOME": str(home.root), "TESSERA_DBT_PROJECT_DIR": str(dbt_project_dir())}
    if home.lake_location:
        environment[LAKE_VARIABLE] = str(home.lake)
    return environment


@dataclass(frozen=True)
class BuildSummary:
    """What a dbt invocation did, short: nodes per status, and each failure with dbt's message."""

    statuses: dict[str, int]
    failures: list[tuple[str, str, str]]  #: (unique_id, status, message)
    log_file: Path | None = None

    @classmethod
    def of(cls, result: dbtRunnerResult, log_file: Path | None = None) -> BuildSummary:
        statuses: Counter[str] = Counter()
        failures = []
        for node_result in getattr(result.result, "results", None) or []:
            status = str(getattr(node_result.status, "value", node_result.status)).lower()
            name = getattr(getattr(node_result, "node", None), "unique_id", None) or "unknown node"
            if not name.startswith(_HOOK):  # hooks are not nodes of the graph, as progress counts them
                statuses[status] += 1
            if status in _FAILED:
                failures.append((name, status, short_message(node_result.message or "")))
        return cls(dict(statuses), failures, log_file)

    def counts(self) -> str:
        """`244 nodes: 240 pass, 4 success` (the statuses in a stable order)."""
        total = sum(self.statuses.values())
        listed = ", ".join(
            f"{n} {status}" for status, n in sorted(self.statuses.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        return f"{total} nodes: {listed}" if total else "no node ran"


def short_message(message: str, keep: int = 6) -> str:
    """dbt's message without colour codes, cut to its first and last lines when long (a Python model's
    failure carries a whole traceback; the log keeps it)."""
    lines = [line.rstrip() for line in _ANSI.sub("", message).strip().splitlines() if line.strip()]
    if len(lines) > keep:
        lines = [*lines[: keep // 2], "…", *lines[-(keep // 2) :]]
    return "\n    ".join(lines)


def describe_failure(args: list[str], result: dbtRunnerResult, log_file: Path | None = None) -> str:
    """What went wrong in a dbt invocation: each failed node and its message, or dbt's own error."""
    summary = BuildSummary.of(result, log_file)
    lines = [f"dbt {' '.join(args)} did not succeed ({summary.counts()})"]
    lines += [f"  {name} [{status}]: {message}" for name, status, message in summary.failures]
    if result.exception is not None:
        lines.append(f"  {type(result.exception).__name__}: {short_message(str(result.exception))}")
    if len(lines) == 1:
        lines.append("  (no failed node reported)")
    if log_file is not None:
        lines.append(f"  dbt's whole output: {log_file}")
    return "\n".join(lines)


@dataclass(frozen=True)
class LastBuild:
    """The last `dbt build` run from this home (its `run_results.json`): when it ended and what it built."""

    finished_at: datetime
    #: Nodes per kind (model, seed, test, …) and per status.
    kinds: dict[str, int]
    statuses: dict[str, int]
    failures: list[str]
    selection: list[str]

    def describe(self) -> str:
        kinds = ", ".join(
            f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(self.kinds.items(), key=lambda kv: -kv[1])
        )
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items(), key=lambda kv: -kv[1]))
        selected = f" of the selection {' '.join(self.selection)}" if self.selection else ""
        return f"{kinds}{selected} ({statuses})"


def last_build(home: TesseraHome) -> LastBuild | None:
    """The last build `run_dbt` ran for this home, or None. Builds the transform DAG ran through Cosmos keep
    their artifacts in the task's copy of the project: their trace here is the publication."""
    path = dbt_artifacts_dir(home) / "target" / "run_results.json"
    if not path.exists():
        return None
    document = json.loads(path.read_text())
    if document.get("args", {}).get("which") != "build":
        return None
    results = [r for r in document.get("results", []) if not r["unique_id"].startswith(_HOOK)]
    return LastBuild(
        finished_at=datetime.fromisoformat(document["metadata"]["generated_at"].replace("Z", "+00:00")),
        kinds=dict(Counter(r["unique_id"].split(".", 1)[0] for r in results)),
        statuses=dict(Counter(r["status"] for r in results)),
        failures=[r["unique_id"] for r in results if r["status"] in _FAILED],
        selection=list(document.get("args", {}).get("select") or []),
    )


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
    """The adapter type (`duckdb`, `postgres`, `spark`) of a target in `dbt_project/profiles.yml`."""
    import yaml

    outputs = yaml.safe_load((dbt_project_dir() / "profiles.yml").read_text())["tessera"]["outputs"]
    if target not in outputs:
        raise ValueError(f"unknown dbt target {target!r}; dbt_project/profiles.yml defines {', '.join(outputs)}")
    return outputs[target]["type"]


#: How production builds run dbt: every model, seed and data test, but no unit tests. Unit tests check the
#: models' logic on fixed fixtures, so they belong to development and CI (an analyst's `dbt build`, `make test`:
#: tests/dbt/test_unit_tests.py), as dbt advises, not to every scheduled build.
PRODUCTION_BUILD_FLAGS = ("--exclude-resource-type", "unit_test")


def run_transform(
    home: TesseraHome,
    *,
    full_refresh: bool = False,
    target: str = "duckdb",
    select: str | None = None,
    progress: Callable[[NodeProgress], None] | None = None,
    echo: Callable[[str], None] | None = None,
):
    """The unify step through its gates: check the batches not yet checked, `dbt build` the whole project (or
    a selection) into this home's warehouse, then, for a whole build on DuckDB or Spark, check the marts and
    publish them to readers, with what the build read from the lake (`tessera.lake_snapshot`, taken before dbt
    runs). A critical mart failure raises `CheckFailed` and leaves the published marts as they were.

    On a PostgreSQL target the lake is loaded into the database first (`tessera/warehouse_load.py`),
    since PostgreSQL cannot read the Parquet files the sources point at on DuckDB. On a Spark target dbt runs
    on a Spark session in this process (`tessera/spark.py`), whose source views read the lake's files in
    place as DuckDB's do; a successful build's tables are then served into the DuckDB working file
    (`tessera/spark_serving.py`), which the checks, the publication and every reader after them read.
    `progress` and `echo` are `run_dbt`'s."""
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
    publishes = select is None and engine in ("duckdb", "spark")
    lake = None
    if publishes:  # what this build reads, taken before it reads it; the publication keeps it
        from tessera.lake_snapshot import take_snapshot

        lake = take_snapshot(home)
    result = run_dbt(args, home, target=target, progress=progress, echo=echo)
    if engine == "spark":
        from tessera.spark_serving import serve_warehouse

        serve_warehouse(home)  # logs what it served
    if publishes:
        from tessera.publication import publish_warehouse

        check_built_marts(home)
        publish_warehouse(home, lake=lake)
    return result
