"""The transform DAG benchmark: what Airflow and Cosmos add to the unify step, and what a run with nothing new costs.

`python -m benchmarks.transform_dag` takes the transform benchmark's world and landed lake per scale (built
only if not there) and makes a private copy of the lake whose batches have passed their checks, as the
extract DAGs leave them, with a migrated Airflow metadata DB (SQLite) beside it. Then, taking turns, each
from a fresh copy of that home, it times:

- the **transform DAG**: `dag.test()` of `tessera_transform` on the embedded default, every task in the
  process, as `tessera demo` runs it: the batch checks, `anything_new`, one `dbt build` (Cosmos's watcher
  producer), a task per model and seed reporting its result, the mart checks and the publication; then, on
  the same home, a second run with **nothing new**, which stops before dbt;
- **`tessera transform`** without Airflow (`run_transform`): the same checks, `dbt build` and publication,
  with the **`dbt build`** inside it timed on its own.

The ratios of the DAG to the two say what orchestration costs on this machine today, so figures from a
shared, noisy machine stay comparable from run to run. Every measured run is a child process of its own
(`benchmarks/harness/children.py`), so its peak memory is its own.
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness.children import run_child
from benchmarks.harness.command import BenchmarkError
from benchmarks.harness.landing import Lake, prepare_lake, warm_lake
from benchmarks.harness.probes import cpu_seconds, peak_memory_mb
from benchmarks.harness.scales import ScaleBenchmark
from benchmarks.harness.stages import StageClock
from benchmarks.harness.tables import Table, ratio, ratio_cell
from benchmarks.harness.world import DEFAULT_WORLD, World, main_on_a_world, prepare_world

log = logging.getLogger("benchmarks.transform_dag")

DEFAULT_SCALES = (2_000,)
DAG_ID = "tessera_transform"
PRODUCER = "dbt.dbt_producer_watcher"
DAG, TRANSFORM, NOTHING_NEW = "transform DAG", "tessera transform", "nothing new"
#: What a run with nothing new runs; every other task of the DAG is skipped.
BEFORE_THE_BUILD = frozenset({"check_pending_batches", "anything_new"})
#: The logical date of the measured DAG run; the run with nothing new comes an hour later.
LOGICAL_DATE = datetime(2026, 1, 2, tzinfo=UTC)


# The measured work: runs inside a child process --------------------------------------------------


def use_home(home: Path) -> None:
    """Point Tessera and the embedded Airflow at `home`, before Airflow is imported: its own metadata DB
    and logs, whatever the environment that started the benchmark says."""
    from tessera.airflow_local import airflow_environment
    from tessera.home import TesseraHome

    os.environ.update(airflow_environment(TesseraHome(home)))


def setup_child(home: str) -> dict[str, Any]:
    """Once per scale, on the template home: the landed batches checked (as each extract DAG checks what it
    lands), the dbt manifest the DAG renders from written if stale, and the Airflow metadata DB migrated."""
    use_home(Path(home))
    from tessera.airflow_local import migrate_metadata_db
    from tessera.dbt_runner import parse_project
    from tessera.gates import check_pending_batches
    from tessera.home import TesseraHome

    started = time.perf_counter()
    checked = check_pending_batches(TesseraHome(Path(home)))
    parse_project(TesseraHome(Path(home)))
    migrate_metadata_db()
    return {"seconds": time.perf_counter() - started, "checked": checked["checked"], "held": checked["held"]}


def task_seconds(run) -> dict[str, float]:
    """Each task instance's wall seconds in a finished DAG run."""
    return {
        ti.task_id: (ti.end_date - ti.start_date).total_seconds()
        for ti in run.get_task_instances()
        if ti.start_date and ti.end_date
    }


def dag_child(home: str) -> dict[str, Any]:
    """`dag.test()` of the transform DAG on the home (the DAG folder parsed outside the clock), then a
    second run on the same home with nothing new since the first one published."""
    use_home(Path(home))
    import dbt.cli.main  # noqa: F401  (as for `tessera transform`, dbt's import stays outside the clock)
    from airflow.dag_processing.dagbag import DagBag

    from tessera.home import TesseraHome
    from tessera.resources import dags_folder
    from tessera.warehouse import mart_counts

    dag = DagBag(dag_folder=str(dags_folder() / f"{DAG_ID}.py"), safe_mode=False).dags[DAG_ID]
    cpu, started = cpu_seconds(), time.perf_counter()
    run = dag.test(logical_date=LOGICAL_DATE)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    tasks = task_seconds(run)
    nodes = [t for t in tasks if t.startswith("dbt.") and t not in (PRODUCER, f"{PRODUCER}_done")]
    started = time.perf_counter()
    quiet = dag.test(logical_date=LOGICAL_DATE + timedelta(hours=1))
    quiet_seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": peak_memory_mb(),
        "state": str(run.state),
        "failed": sorted(t for t, s in states.items() if s != "success"),
        "tasks": len(states),
        "producer_seconds": tasks.get(PRODUCER),
        "node_tasks": len(nodes),
        "node_seconds": sum(tasks[t] for t in nodes),
        "task_seconds": tasks,
        "golden_customers": mart_counts(TesseraHome(Path(home)))["golden_customers"],
        NOTHING_NEW: {
            "seconds": quiet_seconds,
            "state": str(quiet.state),
            "ran": sorted(ti.task_id for ti in quiet.get_task_instances() if str(ti.state) == "success"),
            "not_skipped": sorted(
                ti.task_id
                for ti in quiet.get_task_instances()
                if str(ti.state) != "skipped" and ti.task_id not in BEFORE_THE_BUILD
            ),
        },
    }


def transform_child(home: str) -> dict[str, Any]:
    """`run_transform` on the home, as `tessera transform` runs it, with its `dbt build` timed apart."""
    use_home(Path(home))
    import dbt.cli.main  # noqa: F401  (dbt's import, a few seconds, stays outside the clock)

    from tessera.dbt_runner import run_transform
    from tessera.home import TesseraHome
    from tessera.warehouse import mart_counts

    clock = StageClock()
    clock.wrap("tessera.dbt_runner", "run_dbt", "dbt build")
    cpu, started = cpu_seconds(), time.perf_counter()
    run_transform(TesseraHome(Path(home)))
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": peak_memory_mb(),
        "dbt_build_seconds": clock.seconds["dbt build"],
        "golden_customers": mart_counts(TesseraHome(Path(home)))["golden_customers"],
    }


# The run: world, lake, the checked template home, children taking turns, figures -----------------


@dataclass(frozen=True)
class Template:
    """A home to copy for each measured run: the lake (checked) and state, and a migrated Airflow DB."""

    root: Path  # `<workdir>/transform-dag-c<customers>-s<seed>/`
    setup: dict[str, Any]

    @property
    def home(self) -> Path:
        return self.root / "template"


def prepare_template(workdir: Path, world: World, lake: Lake) -> Template:
    """Copy the landed lake into a home of its own, check its batches and migrate an Airflow DB there.
    Made again on every run, so no figure depends on what an earlier run left."""
    root = workdir / f"transform-dag-c{world.customers}-s{world.seed}"
    shutil.rmtree(root, ignore_errors=True)
    home = root / "template"
    for folder in ("lake", "state"):
        shutil.copytree(lake.root / folder, home / folder)
    log.info("checking the copied lake's batches and migrating an Airflow DB in %s (not part of the figures)", home)
    setup = run_child("benchmarks.transform_dag:setup_child", f"the setup of {home}", home=str(home))
    if setup["held"]:
        raise BenchmarkError(f"{setup['held']} landed batches were held in {home}: the two runs would read less")
    log.info("  %d batches checked, metadata DB migrated, in %.1f s", setup["checked"], setup["seconds"])
    return Template(root, setup)


def fresh_home(template: Template, run: str, attempt: int) -> Path:
    """A copy of the template for one measured run (a fresh warehouse, nothing published)."""
    home = template.root / f"{run.replace(' ', '-')}-{attempt}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(template.home, home)
    return home


def check_dag_run(figures: dict[str, Any], home: Path) -> None:
    """Refuse figures from a DAG run that failed, or a run with nothing new that did not stop before dbt."""
    if figures["state"] != "success" or figures["failed"]:
        raise BenchmarkError(f"the transform DAG run in {home} ended {figures['state']}: {figures['failed']}")
    quiet = figures[NOTHING_NEW]
    if quiet["state"] != "success" or set(quiet["ran"]) != BEFORE_THE_BUILD or quiet["not_skipped"]:
        raise BenchmarkError(
            f"the run with nothing new in {home} ran {quiet['ran']} and did not skip {quiet['not_skipped']}"
        )


def measure(template: Template, repeat: int) -> dict[str, list[dict[str, Any]]]:
    """Every DAG run and `tessera transform`, each on a fresh copy of the template, taking turns so drift on
    the machine hits both alike. The homes of the last round are kept."""
    runs: dict[str, list[dict[str, Any]]] = {DAG: [], TRANSFORM: []}
    for attempt in range(1, repeat + 1):
        for run in runs:
            home = fresh_home(template, run, attempt)
            child = "dag_child" if run == DAG else "transform_child"
            figures = run_child(f"benchmarks.transform_dag:{child}", f"the {run} run in {home}", home=str(home))
            if run == DAG:
                check_dag_run(figures, home)
                log.info(
                    "  run %d/%d %-17s %6.1f s (producer %.1f s, %d node tasks %.1f s); nothing new %.1f s",
                    attempt,
                    repeat,
                    run,
                    figures["seconds"],
                    figures["producer_seconds"],
                    figures["node_tasks"],
                    figures["node_seconds"],
                    figures[NOTHING_NEW]["seconds"],
                )
            else:
                log.info(
                    "  run %d/%d %-17s %6.1f s (dbt build %.1f s)",
                    attempt,
                    repeat,
                    run,
                    figures["seconds"],
                    figures["dbt_build_seconds"],
                )
            runs[run].append(figures)
            if attempt < repeat:  # the last round's homes stay, to look into; a home per run adds up at scale
                shutil.rmtree(home)
    return runs


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summarise(world: World, lake: Lake, template: Template, runs: dict[str, list[dict]]) -> dict[str, Any]:
    """One scale's medians: the DAG, `tessera transform`, the `dbt build` inside it, a run with nothing new."""
    dag, transform = runs[DAG], runs[TRANSFORM]
    golden = {r["golden_customers"] for r in dag + transform}
    if len(golden) > 1:
        log.warning("the runs built different numbers of golden customers: %s", sorted(golden))
    dag_seconds, transform_seconds = median(dag, "seconds"), median(transform, "seconds")
    build_seconds = median(transform, "dbt_build_seconds")
    return {
        "customers": world.customers,
        "seed": world.seed,
        "world": world.summary(),
        "lake": {"root": str(lake.root), "setup": lake.setup, "seconds": lake.seconds, "rows": lake.rows},
        "template": {"root": str(template.root), **template.setup},
        "golden_customers": dag[0]["golden_customers"],
        "same_golden_customers": len(golden) == 1,
        DAG: {
            "seconds": dag_seconds,
            "cpu_seconds": median(dag, "cpu_seconds"),
            "peak_mb": median(dag, "peak_mb"),
            "tasks": dag[0]["tasks"],
            "producer_seconds": median(dag, "producer_seconds"),
            "node_tasks": dag[0]["node_tasks"],
            "node_seconds": median(dag, "node_seconds"),
        },
        TRANSFORM: {
            "seconds": transform_seconds,
            "cpu_seconds": median(transform, "cpu_seconds"),
            "peak_mb": median(transform, "peak_mb"),
            "dbt_build_seconds": build_seconds,
        },
        NOTHING_NEW: {"seconds": statistics.median(r[NOTHING_NEW]["seconds"] for r in dag)},
        "ratio": {
            "dag_to_transform": ratio(dag_seconds, transform_seconds),
            "dag_to_dbt_build": ratio(dag_seconds, build_seconds),
            "producer_to_dbt_build": ratio(median(dag, "producer_seconds"), build_seconds),
        },
        "runs": runs,
    }


def runs_table(r: dict[str, Any]) -> Table:
    """Seconds of each run, and the DAG's against `tessera transform` and its `dbt build`."""
    dag, transform, quiet = r[DAG], r[TRANSFORM], r[NOTHING_NEW]
    build = transform["dbt_build_seconds"]

    def row(label: str, seconds: float, peak: float | None = None) -> tuple[str, ...]:
        return (
            label,
            f"{seconds:.1f}",
            ratio_cell(ratio(seconds, build)),
            ratio_cell(ratio(seconds, transform["seconds"])),
            "" if peak is None else f"{peak:,.0f}",
        )

    return Table(
        ("run", "seconds", "÷ dbt build", "÷ tessera transform", "peak MB"),
        (
            row("dbt build (inside tessera transform)", build),
            row("tessera transform (no Airflow)", transform["seconds"], transform["peak_mb"]),
            row(f"transform DAG ({dag['tasks']} tasks)", dag["seconds"], dag["peak_mb"]),
            row("· its dbt build (the producer task)", dag["producer_seconds"]),
            row(f"· its {dag['node_tasks']} node tasks", dag["node_seconds"]),
            row("transform DAG, nothing new", quiet["seconds"]),
        ),
    )


def scales_table(results: list[dict[str, Any]]) -> Table:
    header = (
        "customers",
        "lake rows",
        "dbt build s",
        "tessera transform s",
        "DAG s",
        "DAG ÷ dbt build",
        "DAG ÷ transform",
        "nothing new s",
    )
    rows = tuple(
        (
            f"{r['customers']:,}",
            f"{r['lake']['rows']:,}",
            f"{r[TRANSFORM]['dbt_build_seconds']:.1f}",
            f"{r[TRANSFORM]['seconds']:.1f}",
            f"{r[DAG]['seconds']:.1f}",
            ratio_cell(r["ratio"]["dag_to_dbt_build"]),
            ratio_cell(r["ratio"]["dag_to_transform"]),
            f"{r[NOTHING_NEW]['seconds']:.1f}",
        )
        for r in results
    )
    return Table(header, rows)


def readme_tables(report: dict[str, Any]) -> dict[str, Table]:
    """The runs table per scale (`runs-<customers>`) and the table across the scales (`scales`)."""
    tables = {f"runs-{r['customers']}": runs_table(r) for r in report["results"]}
    return {**tables, "scales": scales_table(report["results"])}


def summary_line(r: dict[str, Any]) -> str:
    ratios = r["ratio"]
    return (
        f"The transform DAG took {ratio_cell(ratios['dag_to_transform'])} × `tessera transform` and"
        f" {ratio_cell(ratios['dag_to_dbt_build'])} × its dbt build; the producer's dbt build alone"
        f" {ratio_cell(ratios['producer_to_dbt_build'])} × it. A run with nothing new took"
        f" {r[NOTHING_NEW]['seconds']:.1f} s. Both built {r['golden_customers']:,} golden customers"
        + ("." if r["same_golden_customers"] else " (not in every run: see the results file).")
    )


def run_scale(workdir: Path, customers: int, seed: int, repeat: int, shape: str = DEFAULT_WORLD) -> dict[str, Any]:
    """World (of `shape`), lake, the checked template home, and every measured run at one scale; its summary."""
    world = prepare_world(workdir, customers, seed, shape)
    lake = prepare_lake(world.workdir, world)
    template = prepare_template(world.workdir, world, lake)
    warm_lake(template.home)
    log.info("measuring: %d × (the transform DAG and a run with nothing new, then tessera transform)", repeat)
    runs = measure(template, repeat)
    return summarise(world, lake, template, runs)


def heading(result: dict[str, Any]) -> str:
    return (
        f"The transform DAG against `tessera transform` at {result['customers']:,} customers"
        f" (seed {result['seed']}): {result['lake']['rows']:,} landed rows"
    )


BENCHMARK = ScaleBenchmark(
    name="transform_dag",
    description="Time the transform DAG (dag.test() on the embedded default) against `tessera transform` and "
    "its dbt build on the same lake, and a DAG run with nothing new, in the same run (see benchmarks/README.md).",
    default_scales=DEFAULT_SCALES,
    repeat_help="DAG runs and `tessera transform` runs per scale, reporting the median",
    run_scale=run_scale,
    heading=heading,
    table="runs",
    summary=summary_line,
    readme_tables=readme_tables,
    footnote="seconds: wall time of the run in its own process, imports and DAG parsing excluded (median).",
)


def main(argv: list[str] | None = None) -> int:
    return main_on_a_world(BENCHMARK, argv)


if __name__ == "__main__":
    sys.exit(main())
