"""The engines benchmark: the whole `dbt build` on DuckDB and on a local Spark session, over the same lake.

`python -m benchmarks.engines` builds (or reuses) a simulated world per scale (the skewed regional world unless
`--world` says otherwise), lands it once with the connectors into a lake that later runs reuse, checks its
batches, then builds the whole project (a production `dbt build`) into a fresh home per engine that reads that
lake: on DuckDB (the default target) and on Spark (`--target spark`: dbt-spark's session method on the session
`tessera/spark.py` makes). Each build is a child process of its own; its wall time is split into stages from
dbt's `run_results.json`, and its CPU time and peak memory count the JVM and the Python workers Spark starts.

DuckDB is the baseline measured in the same run: the ratio Spark ÷ DuckDB per stage carries over from one
machine to another better than the seconds do. Across scales, each stage's scaling exponent on each engine (k in
t ∝ n^k, from the two largest scales) says how it would grow.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness.build_stages import (
    DETAILED_STAGES,
    OVERHEAD,
    SUCCEEDED,
    attribute_wall_time,
    build_target,
    detailed_stage_of,
    read_build_nodes,
    stage_medians,
)
from benchmarks.harness.children import run_child
from benchmarks.harness.command import BenchmarkError
from benchmarks.harness.landing import Lake, prepare_lake, warm_lake
from benchmarks.harness.probes import ProcessTree
from benchmarks.harness.scales import ScaleBenchmark
from benchmarks.harness.tables import Column, Table, cell, ratio, ratio_cell, scaling_exponent, table_of
from benchmarks.harness.world import main_on_a_world, prepare_world

log = logging.getLogger("benchmarks.engines")

DEFAULT_SCALES = (100_000, 1_000_000)
#: The world the engines are compared on unless `--world` says otherwise: the skewed one, where matching and
#: stitching meet large blocks and components.
DEFAULT_WORLD = "regional"
DUCKDB, SPARK = "duckdb", "spark"
#: The engines in the order each round builds them (the dbt target of each).
ENGINES = (DUCKDB, SPARK)
ENGINE_NAMES = {DUCKDB: "DuckDB", SPARK: "Spark"}
GOLDEN_TABLE = "marts.golden_customers"
#: The status of a node still running when its build was stopped at the time limit.
STOPPED = "stopped"
#: Where an engine's home goes, under the world's work folder: `engines-c<customers>-s<seed>/<engine>/`.
HOMES = "engines-c{customers}-s{seed}"


# The measured work: runs inside a child process --------------------------------------------------


def vars_args(dbt_vars: str | None) -> list[str]:
    """dbt's `--vars`, when the run gives some: both engines' parse and build get the same."""
    return ["--vars", dbt_vars] if dbt_vars else []


def engine_home(home: str, lake: str):
    """The engine's own home, reading the shared lake (`TESSERA_LAKE`) rather than a lake of its own."""
    from tessera.home import TesseraHome

    return TesseraHome(Path(home), lake_location=lake)


#: What a Spark build reports of its session, besides the build's figures.
SESSION_FIGURES = ("session_seconds", "master", "shuffle_partitions", "driver_max_heap_mb", "driver_cores")


def spark_figures(session) -> dict[str, Any]:
    """What the session runs with: its master, shuffle partitions and the driver's heap (what
    `--driver-memory` gave the JVM, as the JVM itself reports it)."""
    runtime = session.sparkContext._jvm.java.lang.Runtime.getRuntime()
    return {
        "master": session.sparkContext.master,
        "shuffle_partitions": int(session.conf.get("spark.sql.shuffle.partitions")),
        "driver_max_heap_mb": runtime.maxMemory() / (1024 * 1024),
        "driver_cores": runtime.availableProcessors(),
    }


def golden_customers(home, engine: str) -> int | None:
    """Rows of the golden customers mart the build left, or None where it built none."""
    if engine == SPARK:
        from pyspark.errors import AnalysisException

        from tessera.spark import spark_session

        try:
            return spark_session(home).table(GOLDEN_TABLE).count()
        except AnalysisException:
            return None
    import duckdb

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        found = con.sql(
            "select count(*) from information_schema.tables where table_schema = 'marts'"
            " and table_name = 'golden_customers'"
        ).fetchall()[0][0]
        return con.sql(f"select count(*) from {GOLDEN_TABLE}").fetchall()[0][0] if found else None


class NodeLog:
    """When each node of a running build started and finished, from dbt's progress events (`run_dbt`'s
    `progress`): the figures of a build stopped at the time limit, which never writes its run results."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, str, str | None]] = []

    def __call__(self, update) -> None:
        self.events.append((time.time(), update.node, update.resource_type, update.status))

    def nodes(self, manifest: Path, now: float) -> list[dict[str, Any]]:
        """Every node that started, as `read_build_nodes` gives them; one still running is `stopped` now."""
        document = json.loads(manifest.read_text())
        known = {
            (node["name"], node["resource_type"]): (uid, node["fqn"])
            for uid, node in {**document["nodes"], **document.get("unit_tests", {})}.items()
        }
        started, finished = {}, {}
        for at, name, kind, status in list(self.events):
            if status is None:
                started[(name, kind)] = at
            else:
                finished[(name, kind)] = (at, status)
        nodes = []
        for key, start in started.items():
            uid, fqn = known.get(key, (f"{key[1]}.{key[0]}", [key[0]]))
            end, status = finished.get(key, (now, STOPPED))
            nodes.append(
                {
                    "id": uid,
                    "stage": detailed_stage_of(uid, fqn),
                    "status": status,
                    "execution_time": end - start,
                    "start": start,
                    "end": end,
                }
            )
        return nodes


def build_child(
    home: str, lake: str, engine: str, dbt_vars: str | None, time_limit: float | None = None
) -> dict[str, Any]:
    """One whole production `dbt build` on `engine` (its dbt target) into the home, timed per stage; a build
    with failed nodes is reported, not raised. Outside the clock: dbt's import, on Spark the session's start
    (the JVM), and a `dbt parse`, so the build starts from a warm partial parse as a user's second build does.

    A build still running after `time_limit` seconds is stopped: the child reports the nodes it finished and
    ends at once (Spark's JVM ends with it, when its input closes)."""
    from tessera.dbt_runner import PRODUCTION_BUILD_FLAGS, run_dbt

    tessera_home = engine_home(home, lake)
    session = {}
    if engine == SPARK:
        from tessera.spark import spark_session

        started = time.perf_counter()
        running = spark_session(tessera_home)
        session = {"session_seconds": time.perf_counter() - started, **spark_figures(running)}
    run_dbt(["parse", *vars_args(dbt_vars)], tessera_home, target=engine)
    results = build_target(Path(home))
    (results / "run_results.json").unlink(missing_ok=True)
    node_log = NodeLog()
    tree = ProcessTree().start()
    wall_start, started = time.time(), time.perf_counter()

    def figures(nodes: list[dict[str, Any]], error: str | None, stopped: bool) -> dict[str, Any]:
        seconds, wall_end = time.perf_counter() - started, time.time()
        return {
            "engine": engine,
            "seconds": seconds,
            **tree.stop(),
            "stage_seconds": attribute_wall_time(nodes, wall_start, wall_end, DETAILED_STAGES),
            "nodes": nodes,
            "error": error,
            "stopped": stopped,
            "golden_customers": None if stopped else golden_customers(tessera_home, engine),
            **session,
        }

    def stop_at_the_limit() -> None:
        stopped = figures(node_log.nodes(results / "manifest.json", time.time()), f"stopped after {time_limit} s", True)
        print(json.dumps(stopped), flush=True)
        os._exit(0)

    limit = threading.Timer(time_limit, stop_at_the_limit) if time_limit else None
    if limit:
        limit.daemon = True
        limit.start()
    error = None
    try:
        run_dbt(
            ["build", *PRODUCTION_BUILD_FLAGS, *vars_args(dbt_vars)], tessera_home, target=engine, progress=node_log
        )
    except RuntimeError as exc:  # the failed nodes are in run_results.json; the message says why
        error = str(exc)
    if limit:
        limit.cancel()
    nodes = read_build_nodes(results, detailed_stage_of) if (results / "run_results.json").exists() else []
    return figures(nodes, error, False)


def check_child(home: str) -> dict[str, Any]:
    """The lake's batches checked once (`tessera transform`'s first gate), so both engines read the same
    visible batches and neither build pays for the checks."""
    from tessera.gates import check_pending_batches
    from tessera.home import TesseraHome

    started = time.perf_counter()
    return {**check_pending_batches(TesseraHome(Path(home))), "seconds": time.perf_counter() - started}


# The run: world, lake, a home per engine, children, figures ------------------------------------------


def spark_environment(master: str, shuffle_partitions: int, driver_memory: str) -> dict[str, str]:
    """What the Spark child's session is started with. The driver's memory must be set before its JVM starts:
    pyspark's launcher passes `PYSPARK_SUBMIT_ARGS` to `spark-submit`, which sizes the JVM's heap from it (in
    `local` mode the driver is the executor too)."""
    return {
        "TESSERA_SPARK_MASTER": master,
        "TESSERA_SPARK_SHUFFLE_PARTITIONS": str(shuffle_partitions),
        "PYSPARK_SUBMIT_ARGS": f"--driver-memory {driver_memory} pyspark-shell",
    }


def fresh_home(root: Path) -> None:
    """An engine's home emptied: no warehouse, metastore, fitted matcher or predictors left from a last build."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)


def measure_engine(
    engine: str, home: Path, lake: Lake, dbt_vars: str | None, env: dict[str, str], time_limit: float | None
) -> dict[str, Any]:
    """`engine`'s build in a fresh home of its own over the shared lake, in a child process; its figures."""
    fresh_home(home)
    return run_child(
        "benchmarks.engines:build_child",
        f"the {engine} build in {home}",
        env=env,
        home=str(home),
        lake=str(lake.root / "lake"),
        engine=engine,
        dbt_vars=dbt_vars,
        time_limit=time_limit,
    )


def not_built(build: dict[str, Any]) -> list[str]:
    """The nodes of a build that did not succeed (errors, failed tests, what dbt skipped after them, and what
    was still running when the build was stopped)."""
    return [n["id"] for n in build["nodes"] if n["status"] not in SUCCEEDED]


def not_built_whole(figures: dict[str, Any]) -> list[str]:
    """What an engine's builds at a scale left undone (`engine_summary`); a stopped build never got to some nodes
    at all, so it counts as not whole even when every node it started finished."""
    undone = [*figures["failed_nodes"], *figures["skipped_nodes"], *figures["stopped_nodes"]]
    return undone or (["(stopped)"] if figures["stopped"] else [])


def log_build(build: dict[str, Any], attempt: int, repeat: int) -> None:
    missing = not_built(build)
    log.info(
        "  run %d/%d %-6s %8.1f s, CPU %8.1f s, peak %7.0f MB, %d nodes%s",
        attempt,
        repeat,
        build["engine"],
        build["seconds"],
        build["cpu_seconds"],
        build["peak_mb"],
        len(build["nodes"]),
        f", {len(missing)} not built: {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}" if missing else "",
    )
    if build["error"] and not build["nodes"]:
        log.warning("  the %s build ran no node: %s", build["engine"], build["error"])


def measure(
    lake: Lake, homes: Path, repeat: int, dbt_vars: str | None, spark_env: dict[str, str], time_limit: float | None
) -> dict[str, list[dict[str, Any]]]:
    """Every build, the engines taking turns so drift on the machine hits both alike."""
    builds: dict[str, list[dict[str, Any]]] = {engine: [] for engine in ENGINES}
    for attempt in range(1, repeat + 1):
        for engine in ENGINES:
            env = spark_env if engine == SPARK else {}
            build = measure_engine(engine, homes / engine, lake, dbt_vars, env, time_limit)
            builds[engine].append(build)
            log_build(build, attempt, repeat)
    return builds


def engine_summary(builds: list[dict[str, Any]]) -> dict[str, Any]:
    """One engine's medians at one scale, with what it did not build (in any of the runs)."""
    goldens = {b["golden_customers"] for b in builds}
    if len(goldens) > 1:
        raise BenchmarkError(f"the {builds[0]['engine']} builds disagree on the golden customers: {sorted(goldens)}")
    incomplete = {n["stage"] for b in builds for n in b["nodes"] if n["status"] not in SUCCEEDED}
    stages = stage_medians(builds, DETAILED_STAGES) if all(b["nodes"] for b in builds) else {}
    return {
        **{key: statistics.median(b[key] for b in builds) for key in ("seconds", "cpu_seconds", "peak_mb")},
        "stages": {stage: {**figures, "complete": stage not in incomplete} for stage, figures in stages.items()},
        "failed_nodes": sorted({n["id"] for b in builds for n in b["nodes"] if n["status"] in ("error", "fail")}),
        "skipped_nodes": sorted({n["id"] for b in builds for n in b["nodes"] if n["status"] == "skipped"}),
        "stopped_nodes": sorted({n["id"] for b in builds for n in b["nodes"] if n["status"] == STOPPED}),
        "stopped": any(b["stopped"] for b in builds),
        "errors": [b["error"] for b in builds if b["error"]],
        "golden_customers": goldens.pop(),
        "spark": {key: builds[0][key] for key in SESSION_FIGURES} if SESSION_FIGURES[0] in builds[0] else None,
    }


def stage_rows(engines: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per stage: each engine's seconds and whether it built the stage whole, and Spark ÷ DuckDB where both did."""
    names = list(dict.fromkeys(stage for e in engines.values() for stage in e["stages"]))
    rows = []
    for stage in names:
        row: dict[str, Any] = {"stage": stage}
        for engine, figures in engines.items():
            row[engine] = figures["stages"].get(stage)
        both = [row[e] for e in ENGINES]
        row["ratio"] = (
            ratio(row[SPARK]["seconds"], row[DUCKDB]["seconds"])
            if all(f is not None and f["complete"] for f in both)
            else None
        )
        rows.append(row)
    return rows


def run_scale(
    workdir: Path,
    customers: int,
    seed: int,
    repeat: int,
    shape: str = DEFAULT_WORLD,
    dbt_vars: str | None = None,
    spark_master: str = "local[2]",
    shuffle_partitions: int = 2,
    driver_memory: str = "4g",
    time_limit: float | None = None,
) -> dict[str, Any]:
    """World (of `shape`), lake, its checks and every measured build at one scale; its summary."""
    world = prepare_world(workdir, customers, seed, shape)
    lake = prepare_lake(world.workdir, world)
    checked = run_child("benchmarks.engines:check_child", f"checking the lake in {lake.root}", home=str(lake.root))
    log.info(
        "lake checked: %d batches newly checked in %.1f s (not part of the figures)",
        checked["checked"],
        checked["seconds"],
    )
    warm_lake(lake.root)
    homes = world.workdir / HOMES.format(customers=customers, seed=seed)
    log.info(
        "measuring: %d × (dbt build on DuckDB, dbt build on Spark %s), each in a fresh home in %s",
        repeat,
        spark_master,
        homes,
    )
    spark_env = spark_environment(spark_master, shuffle_partitions, driver_memory)
    builds = measure(lake, homes, repeat, dbt_vars, spark_env, time_limit)
    engines = {engine: engine_summary(runs) for engine, runs in builds.items()}
    return {
        "customers": customers,
        "seed": seed,
        "world": world.summary(),
        "lake": {"root": str(lake.root), "setup": lake.setup, "rows": lake.rows, "streams": lake.streams},
        "settings": {
            "dbt_vars": dbt_vars,
            "spark_master": spark_master,
            "shuffle_partitions": shuffle_partitions,
            "driver_memory": driver_memory,
            "time_limit": time_limit,
        },
        "engines": engines,
        "stages": stage_rows(engines),
        "ratio": ratio(engines[SPARK]["seconds"], engines[DUCKDB]["seconds"])
        if not any(not_built_whole(figures) for figures in engines.values())
        else None,
        "runs": builds,
    }


# Tables --------------------------------------------------------------------------------------------


def seconds_cell(figures: dict[str, Any] | None, key: str = "seconds") -> str:
    """An engine's seconds for a stage; `n/a` where it has no such stage, marked `*` where it did not build
    all of the stage's nodes."""
    if figures is None or figures[key] is None:
        return "n/a"
    return f"{figures[key]:,.2f}" + ("" if figures.get("complete", True) else " *")


def nodes_cell(row: dict[str, Any]) -> str:
    counts = [row[e]["nodes"] if row[e] else None for e in ENGINES]
    if counts[0] == counts[1]:
        return "" if counts[0] is None else str(counts[0])
    return " / ".join("n/a" if c is None else str(c) for c in counts)


STAGE_COLUMNS: tuple[Column, ...] = (
    ("stage", cell("stage")),
    ("nodes", nodes_cell),
    ("DuckDB s", lambda r: seconds_cell(r[DUCKDB])),
    ("Spark s", lambda r: seconds_cell(r[SPARK])),
    ("Spark ÷ DuckDB", lambda r: ratio_cell(r["ratio"], 1)),
    ("DuckDB node s", lambda r: "" if r["stage"] == OVERHEAD else seconds_cell(r[DUCKDB], "node_seconds")),
    ("Spark node s", lambda r: "" if r["stage"] == OVERHEAD else seconds_cell(r[SPARK], "node_seconds")),
)


def stage_table(result: dict[str, Any]) -> Table:
    """One scale, stage by stage on both engines, and the builds' wall time."""
    table = table_of(STAGE_COLUMNS, result["stages"])
    total = (
        "build (wall)",
        "",
        total_cell(DUCKDB, "seconds", ",.2f")(result),
        total_cell(SPARK, "seconds", ",.2f")(result),
        ratio_cell(result["ratio"], 1),
        "",
        "",
    )
    return Table(table.header, (*table.rows, total))


def not_built_cell(result: dict[str, Any]) -> str:
    return " / ".join(str(len(not_built_whole(result["engines"][e]))) for e in ENGINES)


def total_cell(engine: str, key: str, spec: str) -> Callable[[dict[str, Any]], str]:
    """An engine's whole-build figure: `≥` where the build was stopped at the time limit, `*` where it did not
    build every node."""

    def write(result: dict[str, Any]) -> str:
        figures = result["engines"][engine]
        value = format(figures[key], spec)
        if figures["stopped"]:
            return f"≥ {value} (stopped)"
        return value if not not_built_whole(figures) else f"{value} *"

    return write


SCALE_COLUMNS: tuple[Column, ...] = (
    ("customers", cell("customers", ",")),
    ("lake rows", cell("lake.rows", ",")),
    ("DuckDB s", total_cell(DUCKDB, "seconds", ",.1f")),
    ("Spark s", total_cell(SPARK, "seconds", ",.1f")),
    ("Spark ÷ DuckDB", cell("ratio", ".1f")),
    ("DuckDB CPU s", total_cell(DUCKDB, "cpu_seconds", ",.1f")),
    ("Spark CPU s", total_cell(SPARK, "cpu_seconds", ",.1f")),
    ("DuckDB peak MB", total_cell(DUCKDB, "peak_mb", ",.0f")),
    ("Spark peak MB", total_cell(SPARK, "peak_mb", ",.0f")),
    ("Spark heap MB", lambda r: f"{r['engines'][SPARK]['spark']['driver_max_heap_mb']:,.0f}"),
    ("shuffle partitions", cell("settings.shuffle_partitions")),
    ("golden DuckDB", cell(f"engines.{DUCKDB}.golden_customers", ",")),
    ("golden Spark", cell(f"engines.{SPARK}.golden_customers", ",")),
    ("not built DuckDB / Spark", not_built_cell),
)


def cost_rows(result: dict[str, Any], engine: str) -> dict[str, dict[str, Any] | None]:
    """One engine's costs at a scale by row label: each stage, the whole build, CPU time and peak memory."""
    figures = result["engines"][engine]
    whole = {"complete": not not_built_whole(figures)}
    return {
        **figures["stages"],
        "build (wall)": {**whole, "seconds": figures["seconds"]},
        "CPU seconds": {**whole, "seconds": figures["cpu_seconds"]},
        "peak memory (MB)": {**whole, "seconds": figures["peak_mb"]},
    }


def exponents_table(results: list[dict[str, Any]]) -> Table:
    """Per stage and engine: the cost at the two largest scales and its exponent k in the customers (t ∝ n^k).
    A cost an engine did not build whole at either scale (`*`) gets no exponent."""
    small, large = sorted(results, key=lambda r: r["customers"])[-2:]
    n_small, n_large = small["customers"], large["customers"]
    header: tuple[str, ...] = ("cost",)
    for engine in ENGINES:
        name = ENGINE_NAMES[engine]
        header += (f"{name} {n_small:,}", f"{name} {n_large:,}", f"{name} k")
    costs = {engine: (cost_rows(small, engine), cost_rows(large, engine)) for engine in ENGINES}
    labels = list(dict.fromkeys(label for pair in costs.values() for rows in pair for label in rows))
    rows = []
    for label in labels:
        row: tuple[str, ...] = (label,)
        for engine in ENGINES:
            a, b = (rows_at.get(label) for rows_at in costs[engine])
            k = (
                scaling_exponent(a["seconds"], b["seconds"], n_small, n_large)
                if a and b and a["complete"] and b["complete"]
                else None
            )
            row += (seconds_cell(a), seconds_cell(b), ratio_cell(k))
        rows.append(row)
    return Table(header, tuple(rows))


def readme_tables(report: dict[str, Any]) -> dict[str, Table]:
    """A stage table per scale (`stages-<customers>`), the table across the scales (`scales`), and, with two
    scales or more, each stage's scaling exponent on each engine (`exponents`)."""
    results = report["results"]
    tables = {f"stages-{r['customers']}": stage_table(r) for r in results}
    tables["scales"] = table_of(SCALE_COLUMNS, results)
    if len(results) >= 2:
        tables["exponents"] = exponents_table(results)
    return tables


def heading(result: dict[str, Any]) -> str:
    settings = result["settings"]
    return (
        f"The whole build on DuckDB and on Spark ({settings['spark_master']}, {settings['shuffle_partitions']}"
        f" shuffle partitions, driver memory {settings['driver_memory']}) on the {result['world']['shape']} world at"
        f" {result['customers']:,} customers (seed {result['seed']}): {result['lake']['rows']:,} landed rows"
        + (f"; dbt vars {settings['dbt_vars']}" if settings["dbt_vars"] else "")
    )


def summary(result: dict[str, Any]) -> str:
    """What the run prints under a scale's table: totals, and every node an engine did not build."""
    lines = []
    for engine in ENGINES:
        figures = result["engines"][engine]
        line = (
            f"{ENGINE_NAMES[engine]}: {figures['seconds']:,.1f} s, CPU {figures['cpu_seconds']:,.1f} s,"
            f" peak {figures['peak_mb']:,.0f} MB, golden customers {figures['golden_customers']}."
        )
        if figures["spark"]:
            line += (
                f" Session start {figures['spark']['session_seconds']:.1f} s (outside the build's time), driver heap"
                f" {figures['spark']['driver_max_heap_mb']:,.0f} MB."
            )
        if figures["stopped"]:
            line += f" Stopped at the time limit; still running then: {', '.join(figures['stopped_nodes']) or 'none'}."
        if figures["failed_nodes"]:
            line += f"\n  failed: {', '.join(figures['failed_nodes'])}"
        if figures["skipped_nodes"]:
            models = [uid.split(".")[-1] for uid in figures["skipped_nodes"] if uid.startswith("model.")]
            line += (
                f"\n  skipped after a failure: {len(figures['skipped_nodes'])} nodes, of them {len(models)} models:"
                f" {', '.join(models)}"
            )
        lines.append(line)
    return "\n".join(lines) + "\n(* a stage with nodes that did not build: its seconds are partial)"


BENCHMARK = ScaleBenchmark(
    name="engines",
    description="Time the whole dbt build on DuckDB and on a local Spark session over the same lake, stage by "
    "stage, with each stage's scaling exponent on each engine (see benchmarks/README.md).",
    default_scales=DEFAULT_SCALES,
    repeat_help="builds per engine and scale, reporting the median",
    run_scale=run_scale,
    heading=heading,
    table="stages",
    summary=summary,
    readme_tables=readme_tables,
    footnote="seconds: each build's wall time split between the nodes running at each instant;"
    " node s: dbt's own time per node, summed; k: the exponent in t ∝ customers^k between the two largest scales.",
    default_repeat=1,
    across_scales=("scales", "exponents"),
)


def spark_options(parser: argparse.ArgumentParser):
    """The engines benchmark's own options: dbt vars for both builds, and the Spark session's settings."""
    parser.add_argument(
        "--dbt-vars",
        default=None,
        help="passed to both builds as dbt's --vars, e.g. '{probabilistic_matching: false}' (default none)",
    )
    parser.add_argument("--spark-master", default="local[2]", help="TESSERA_SPARK_MASTER (default local[2])")
    parser.add_argument(
        "--shuffle-partitions",
        type=int,
        default=2,
        help="TESSERA_SPARK_SHUFFLE_PARTITIONS: Spark SQL's shuffle partitions (default 2)",
    )
    parser.add_argument(
        "--spark-driver-memory",
        default="4g",
        help="the Spark driver's JVM heap (local mode: all of Spark's memory), set through PYSPARK_SUBMIT_ARGS"
        " (default 4g)",
    )

    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a build still running after this long, and report the nodes it finished (default: no limit)",
    )

    def own_arguments(args: argparse.Namespace) -> dict[str, Any]:
        return {
            "time_limit": args.time_limit,
            "dbt_vars": args.dbt_vars,
            "spark_master": args.spark_master,
            "shuffle_partitions": args.shuffle_partitions,
            "driver_memory": args.spark_driver_memory,
        }

    return own_arguments


def main(argv: list[str] | None = None) -> int:
    return main_on_a_world(BENCHMARK, argv, spark_options, default_world=DEFAULT_WORLD)


if __name__ == "__main__":
    sys.exit(main())
