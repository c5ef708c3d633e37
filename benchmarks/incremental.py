"""The incremental-run benchmark: a daily run of the unify step against a full rebuild of the same lake.

`python -m benchmarks.incremental` takes the transform benchmark's world and landed lake per scale
(built only if not there), and makes a private copy of both, so the shared ones never change. On the
copy it builds the warehouse once (day 0), advances the copied world by one day and lands that day
with the connectors, as a daily pipeline run does. Then, from the same day-0 warehouse each time, it
times `tessera.transform.run_transform` twice, taking turns: the **incremental** run (staging reads only
the batches landed since the last run, stitching re-stitches only the components whose edges changed)
and a **full refresh** of the same lake (`--full-refresh`). The ratio of the two says what a daily run
saves, on this machine today, so figures from a shared, noisy machine stay comparable from run to run.

Every measured run is a child process of its own (started through the extraction benchmark's
launcher), so its peak memory is its own; the children print one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.extraction import (
    BenchmarkError,
    World,
    cpu_seconds,
    default_workdir,
    machine,
    peak_memory_mb,
    prepare_world,
)
from benchmarks.harness import run_command
from benchmarks.scales import add_scale_options, resolve_scales
from benchmarks.transform import (
    OTHER,
    OVERHEAD,
    STAGES,
    STAGING,
    STITCHING,
    Lake,
    attribute_wall_time,
    format_table,
    land_streams,
    prepare_lake,
    read_build_nodes,
    run_measured,
    warm_lake,
)

log = logging.getLogger("benchmarks.incremental")

DEFAULT_SCALES = (100_000,)
MODULE = "benchmarks.incremental"
INCREMENTAL, FULL = "incremental", "full refresh"
#: The child kind of each measured run.
KINDS = {INCREMENTAL: "incremental", FULL: "full"}
#: The child kind that builds the day-0 warehouse (not measured).
DAY0 = "day0"
RESOLUTION_TABLE = "intermediate.int_identity_resolution"
#: What the staging macro `landed_since_last_run()` adds to a model's SQL on its incremental path.
INCREMENTAL_FILTER = "_extracted_at > ("
DAY0_WAREHOUSE = "warehouse-day0.duckdb"


# The measured work: runs inside a child process --------------------------------------------------


def stitching_changes(warehouse: Path, day0: Path, run_started: float) -> dict[str, Any]:
    """How much of the stitching result the run changed.

    Re-decided: the edges carrying the newest `decided_at`, if that is from this run (a run that
    re-decided nothing leaves the previous run's stamp newest). Changed: the edges not as they were in
    the day-0 warehouse, in any column, `decided_at` included; besides the re-decided ones, those whose
    payload (when last seen, match probability, reason) an incremental run refreshed while keeping
    their decision."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("attach ? as day0 (read_only)", [str(day0)])
        newest, latest, edges, changed = con.sql(
            f"""select epoch(max(decided_at)),
                       count(*) filter (where decided_at = (select max(decided_at) from {RESOLUTION_TABLE})),
                       count(*),
                       (select count(*) from (
                           select * from {RESOLUTION_TABLE} except all select * from day0.{RESOLUTION_TABLE}
                       ))
                from {RESOLUTION_TABLE}"""
        ).fetchall()[0]
    finally:
        con.close()
    redecided = latest if newest is not None and newest >= run_started else 0
    return {
        "edges": edges,
        "redecided_edges": redecided,
        "redecided_share": redecided / edges if edges else None,
        "changed_edges": changed,
        "changed_share": changed / edges if edges else None,
    }


def incremental_models(target_dir: Path) -> list[str]:
    """The models the last build ran on their incremental staging path (run results keep the SQL run)."""
    results = json.loads((target_dir / "run_results.json").read_text())
    return sorted(
        r["unique_id"].split(".")[-1]
        for r in results["results"]
        if r["unique_id"].startswith("model.") and INCREMENTAL_FILTER in (r.get("compiled_code") or "")
    )


def build_child(root: Path, full_refresh: bool) -> dict[str, Any]:
    """One `dbt build` of the whole project over `root`'s day-0 warehouse, timed per stage."""
    from tessera.dbt_runner import (
        dbt_artifacts_dir,  # imports dbt: outside the clock
        run_transform,
    )
    from tessera.home import TesseraHome

    home = TesseraHome(root)
    cpu, started, wall_start = cpu_seconds(), time.perf_counter(), time.time()
    run_transform(home, full_refresh=full_refresh)
    seconds, cpu, wall_end = time.perf_counter() - started, cpu_seconds() - cpu, time.time()
    target = dbt_artifacts_dir(home) / "target"
    nodes = read_build_nodes(target)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": peak_memory_mb(),
        "stage_seconds": attribute_wall_time(nodes, wall_start, wall_end),
        # The benchmark keeps the day-0 warehouse next to the home (see `NextDay`).
        **stitching_changes(home.warehouse, root.parent / DAY0_WAREHOUSE, wall_start),
        "incremental_models": incremental_models(target),
        "nodes": nodes,
    }


def day0_child(root: Path) -> dict[str, Any]:
    """Every seed and model built from the lake into a fresh warehouse: what a full build leaves there.
    Tests change nothing in the warehouse, so they are left out here; each measured run runs them all."""
    from tessera.dbt_runner import dbt_artifacts_dir, run_dbt
    from tessera.home import TesseraHome

    home = TesseraHome(root)
    started = time.perf_counter()
    run_dbt(["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"], home)
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": peak_memory_mb(),
        "nodes": read_build_nodes(dbt_artifacts_dir(home) / "target"),
    }


def child_main(args: argparse.Namespace) -> int:
    """Run one build and print its figures as the last line of output."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.child == DAY0:
        figures = day0_child(Path(args.home))
    else:
        figures = build_child(Path(args.home), full_refresh=args.child == KINDS[FULL])
    print(json.dumps(figures))
    return 0


# The run: world, lake, the private copy a day later, children, figures --------------------------


@dataclass(frozen=True)
class NextDay:
    """A private copy of the world and the landed home, with one more day landed on a day-0 warehouse."""

    root: Path  # `<workdir>/incremental-c<customers>-s<seed>/`
    home: Path  # a Tessera home: `lake/`, `state/`, `warehouse.duckdb`
    sim_dir: Path  # the copied world, one day later than the shared one
    day_start: datetime
    day_end: datetime
    day0_build: dict[str, Any]  # every seed and model built from the copied lake before the day landed
    streams: dict[str, dict[str, Any]]  # the new day's batches, by `source.stream`
    seconds: float

    @property
    def day0_warehouse(self) -> Path:
        return self.root / DAY0_WAREHOUSE

    @property
    def rows(self) -> int:
        return sum(s["rows"] for s in self.streams.values())

    @property
    def quarantined(self) -> int:
        return sum(s["quarantined"] for s in self.streams.values())


def failed_nodes(build: dict[str, Any]) -> list[str]:
    return [n["id"] for n in build["nodes"] if n["status"] not in ("success", "pass", "warn")]


def prepare_next_day(workdir: Path, world: World, lake: Lake) -> NextDay:
    """Copy the world and the landed home, build the warehouse on the copy (day 0), keep that
    warehouse, then advance the copied world one day and land the day into the copied lake.

    Made again on every run: a day-0 warehouse kept from an earlier run may have been built by other
    code than the runs measured now."""
    from tessera_simulator import Simulator

    started = time.perf_counter()
    root = workdir / f"incremental-c{world.customers}-s{world.seed}"
    home, sim_dir = root / "home", root / "world"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copytree(world.sim_dir, sim_dir)
    for folder in ("lake", "state"):
        shutil.copytree(lake.root / folder, home / folder)

    log.info("  day 0: every seed and model built from the copied lake…")
    day0 = run_measured(DAY0, home, MODULE)
    if failed := failed_nodes(day0):
        raise BenchmarkError(f"the day-0 build in {home} reported nodes that did not succeed: {failed}")
    shutil.copyfile(home / "warehouse.duckdb", root / DAY0_WAREHOUSE)
    log.info("  day 0 built in %.1f s (peak %.0f MB)", day0["seconds"], day0["peak_mb"])

    sim = Simulator.open(sim_dir)
    day_start = sim.clock
    sim.advance(days=1)
    day = World(sim_dir, sim.clock, world.customers, world.seed, "advanced", 0.0)
    log.info("  world copy advanced to %s; landing the day [%s, %s)…", day.clock.isoformat(), day_start, day.clock)
    streams = land_streams(day, home, day_start)
    return NextDay(root, home, sim_dir, day_start, day.clock, day0, streams, time.perf_counter() - started)


def restore_day0(day: NextDay) -> None:
    """Put the day-0 warehouse back, and drop the last run's results (keeping dbt's partial parse)."""
    (day.home / "warehouse.duckdb.wal").unlink(missing_ok=True)
    shutil.copyfile(day.day0_warehouse, day.home / "warehouse.duckdb")
    (day.home / "dbt" / "target" / "run_results.json").unlink(missing_ok=True)


def check_run(run: str, build: dict[str, Any], home: Path) -> None:
    """Refuse figures from a build that failed or did not take the path it is labelled with."""
    if failed := failed_nodes(build):
        raise BenchmarkError(f"the {run} build in {home} reported nodes that did not succeed: {failed}")
    if run == INCREMENTAL and not build["incremental_models"]:
        raise BenchmarkError(f"the incremental build in {home} ran no staging model incrementally")
    if run == FULL and build["incremental_models"]:
        raise BenchmarkError(f"the full refresh in {home} ran {build['incremental_models']} incrementally")


def measure(day: NextDay, repeat: int) -> dict[str, list[dict]]:
    """Every incremental run and full refresh, each from the day-0 warehouse, taking turns so drift
    on the machine hits both alike."""
    runs: dict[str, list[dict]] = {INCREMENTAL: [], FULL: []}
    for attempt in range(1, repeat + 1):
        for run, kind in KINDS.items():
            restore_day0(day)
            build = run_measured(kind, day.home, MODULE)
            check_run(run, build, day.home)
            runs[run].append(build)
            log.info(
                "  run %d/%d %-12s %7.1f s, peak %7.1f MB (staging %.1f s, stitching %.1f s; %s of %s edges re-decided)",
                attempt,
                repeat,
                run,
                build["seconds"],
                build["peak_mb"],
                build["stage_seconds"][STAGING],
                build["stage_seconds"][STITCHING],
                f"{build['redecided_edges']:,}",
                f"{build['edges']:,}",
            )
    return runs


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarise_runs(builds: list[dict[str, Any]]) -> dict[str, Any]:
    """One kind of run's medians over the repeats: wall time, memory and seconds per stage."""
    counts = {s: 0 for s in [*STAGES, OTHER]}
    for node in builds[0]["nodes"]:
        counts[node["stage"]] += 1
    stages = {}
    for stage in [*STAGES, OTHER, OVERHEAD]:
        if stage == OTHER and not counts[OTHER]:
            continue
        stages[stage] = {
            "nodes": counts.get(stage),
            "seconds": statistics.median(b["stage_seconds"][stage] for b in builds),
            "node_seconds": None
            if stage == OVERHEAD
            else statistics.median(sum(n["execution_time"] for n in b["nodes"] if n["stage"] == stage) for b in builds),
        }
    return {
        "seconds": statistics.median(b["seconds"] for b in builds),
        "cpu_seconds": statistics.median(b["cpu_seconds"] for b in builds),
        "peak_mb": statistics.median(b["peak_mb"] for b in builds),
        "stages": stages,
        "edges": builds[0]["edges"],
        "redecided_edges": statistics.median(b["redecided_edges"] for b in builds),
        "redecided_share": statistics.median(b["redecided_share"] for b in builds),
        "changed_edges": statistics.median(b["changed_edges"] for b in builds),
        "changed_share": statistics.median(b["changed_share"] for b in builds),
        "incremental_models": builds[0]["incremental_models"],
    }


def summarise(world: World, lake: Lake, day: NextDay, runs: dict[str, list[dict]]) -> dict[str, Any]:
    """One scale's figures: the day's size against the lake, each run's medians, and incremental ÷ full."""
    inc, full = summarise_runs(runs[INCREMENTAL]), summarise_runs(runs[FULL])
    if inc["edges"] != full["edges"]:
        log.warning(
            "the incremental run left %d identity edges and the full refresh %d: a daily run should equal a full one",
            inc["edges"],
            full["edges"],
        )
    lake_rows = lake.rows + day.rows
    return {
        "customers": world.customers,
        "seed": world.seed,
        "world": {
            "sim_dir": str(world.sim_dir),
            "clock": world.clock.isoformat(),
            "setup": world.setup,
            "setup_seconds": world.setup_seconds,
        },
        "lake": {
            "root": str(lake.root),
            "setup": lake.setup,
            "seconds": lake.seconds,
            "rows": lake.rows,
        },
        "day": {
            "root": str(day.root),
            "start": day.day_start.isoformat(),
            "end": day.day_end.isoformat(),
            "rows": day.rows,
            "quarantined": day.quarantined,
            "streams": day.streams,
            "lake_rows": lake_rows,
            "share_of_lake": day.rows / lake_rows if lake_rows else None,
            "prepare_seconds": day.seconds,
            "day0_build_seconds": day.day0_build["seconds"],
            "day0_build_peak_mb": day.day0_build["peak_mb"],
        },
        "edges": inc["edges"],
        "redecided_edges": inc["redecided_edges"],
        "redecided_share": inc["redecided_share"],
        "changed_edges": inc["changed_edges"],
        "changed_share": inc["changed_share"],
        "same_edges": inc["edges"] == full["edges"],
        INCREMENTAL: inc,
        FULL: full,
        "ratio": {
            "seconds": _ratio(inc["seconds"], full["seconds"]),
            "cpu_seconds": _ratio(inc["cpu_seconds"], full["cpu_seconds"]),
            "peak_mb": _ratio(inc["peak_mb"], full["peak_mb"]),
            "stages": {
                stage: _ratio(inc["stages"][stage]["seconds"], full["stages"].get(stage, {}).get("seconds"))
                for stage in inc["stages"]
            },
        },
        "runs": runs,
    }


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def runs_table(result: dict[str, Any]) -> str:
    """incremental, full refresh and their ratio: wall time, memory, seconds per stage, edges re-decided."""
    stages = list(result[INCREMENTAL]["stages"])
    rows = [["run", "build s", "peak MB", *stages, "re-decided", "changed"]]
    for run in (INCREMENTAL, FULL):
        r = result[run]
        rows.append(
            [
                run,
                f"{r['seconds']:.2f}",
                f"{r['peak_mb']:,.0f}",
                *(_seconds(r["stages"].get(stage, {}).get("seconds")) for stage in stages),
                f"{100 * r['redecided_share']:.1f} %",
                f"{100 * r['changed_share']:.1f} %",
            ]
        )
    ratio = result["ratio"]
    rows.append(
        [
            "incremental ÷ full",
            _times(ratio["seconds"]),
            _times(ratio["peak_mb"]),
            *(_times(ratio["stages"][stage]) for stage in stages),
            "",
            "",
        ]
    )
    return format_table(rows)


def summary_line(r: dict[str, Any]) -> str:
    day, ratio = r["day"], r["ratio"]
    return (
        f"A day of {day['rows']:,} new rows ({100 * day['share_of_lake']:.1f} % of the {day['lake_rows']:,} in the"
        f" lake): incremental {r[INCREMENTAL]['seconds']:.1f} s, full refresh {r[FULL]['seconds']:.1f} s,"
        f" incremental ÷ full {_times(ratio['seconds'])} (staging {_times(ratio['stages'][STAGING])},"
        f" stitching {_times(ratio['stages'][STITCHING])}). Stitching re-decided {r['redecided_edges']:,.0f}"
        f" of {r['edges']:,} edges ({100 * r['redecided_share']:.1f} %) and changed {r['changed_edges']:,.0f}"
        f" ({100 * r['changed_share']:.1f} %)."
    )


def scales_table(results: list[dict[str, Any]]) -> str:
    rows = [
        [
            "customers",
            "lake rows",
            "day rows",
            "incremental s",
            "full s",
            "incremental ÷ full",
            "staging ÷",
            "stitching ÷",
            "re-decided",
            "changed",
        ]
    ]
    for r in results:
        rows.append(
            [
                f"{r['customers']:,}",
                f"{r['day']['lake_rows']:,}",
                f"{r['day']['rows']:,}",
                f"{r[INCREMENTAL]['seconds']:.1f}",
                f"{r[FULL]['seconds']:.1f}",
                _times(r["ratio"]["seconds"]),
                _times(r["ratio"]["stages"][STAGING]),
                _times(r["ratio"]["stages"][STITCHING]),
                f"{100 * r['redecided_share']:.1f} %",
                f"{100 * r['changed_share']:.1f} %",
            ]
        )
    return format_table(rows)


def run_scale(workdir: Path, customers: int, seed: int, repeat: int) -> dict[str, Any]:
    """World, lake, the private copy a day later, and every measured run at one scale; its summary."""
    log.info("preparing a world of %s customers (seed %d) in %s", f"{customers:,}", seed, workdir)
    world = prepare_world(workdir, customers, seed)
    log.info(
        "world %s in %.1f s (not part of the figures); clock %s",
        {"built": "built (initialise + advance 1 day)", "advanced": "advanced 1 day", "reused": "reused"}[world.setup],
        world.setup_seconds,
        world.clock.isoformat(),
    )
    log.info("landing every stream with the connectors (a lake already landed for this world is reused)")
    lake = prepare_lake(workdir, world)
    log.info(
        "lake %s: %s rows in %s (%.1f s, not part of the figures)",
        lake.setup,
        f"{lake.rows:,}",
        lake.root,
        lake.seconds,
    )
    log.info("copying world and lake to %s, then day 0 and the next day (not part of the figures)", workdir)
    day = prepare_next_day(workdir, world, lake)
    log.info(
        "next day landed: %s rows (%s quarantined) in %s; preparing took %.1f s",
        f"{day.rows:,}",
        f"{day.quarantined:,}",
        day.home / "lake",
        day.seconds,
    )
    warm_lake(day.home)
    log.info("measuring: %d × (incremental run, then full refresh), each from the day-0 warehouse", repeat)
    runs = measure(day, repeat)
    return summarise(world, lake, day, runs)


def run_benchmark(args: argparse.Namespace) -> Path:
    """The whole benchmark, scale by scale; returns the path of the JSON results (rewritten after each scale)."""
    workdir = Path(args.workdir).resolve()
    started_at = datetime.now(UTC)
    machine_before = machine()
    out = workdir / "results" / f"incremental-{started_at:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    for customers in args.customers:
        load_at_start = machine()["load_average"]
        result = {**run_scale(workdir, customers, args.seed, args.repeat), "load_average_at_start": load_at_start}
        results.append(result)
        report = {
            "benchmark": "incremental",
            "started_at": started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "machine": {**machine_before, "load_average_after": machine()["load_average"]},
            "repeat": args.repeat,
            "statistic": "median",
            "results": results,
        }
        out.write_text(json.dumps(report, indent=2) + "\n")

        day = result["day"]
        print(
            f"\nDaily run against a full refresh at {customers:,} customers (seed {args.seed}):"
            f" the day {day['start'][:10]} landed on a lake of {result['lake']['rows']:,} rows;"
            f" median of {args.repeat} run{'s' if args.repeat > 1 else ''};"
            f" {machine_before['cpus']} CPUs" + (f", load {load_at_start[0]:.2f} at the start" if load_at_start else "")
        )
        print(runs_table(result))
        print(summary_line(result), flush=True)
    if len(results) > 1:
        print()
        print(scales_table(results))
    print(
        "\nStage columns: the build's wall time split between the nodes running at each instant, in seconds."
        " re-decided: edges whose stitching decision the run made; changed: edges not as they were on day 0."
        f" Results: {out}"
    )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.incremental",
        description="Time a daily incremental run of the unify step (dbt build) against a full refresh of the "
        "same lake, per stage, in the same run (see benchmarks/README.md).",
    )
    add_scale_options(parser, DEFAULT_SCALES, "incremental runs and full refreshes per scale, reporting the median")
    hidden = argparse.SUPPRESS
    parser.add_argument("--child", choices=(*KINDS.values(), DAY0), help=hidden)
    parser.add_argument("--home", help=hidden)
    args = parser.parse_args(argv)
    resolve_scales(args, DEFAULT_SCALES, default_workdir())
    return args


def main(argv: list[str] | None = None) -> int:
    return run_command(
        parse_args(argv),
        "incremental",
        child_main,
        run_benchmark,
        (BenchmarkError, ValueError, OSError, RuntimeError),
        ("benchmarks.incremental", "benchmarks.transform", "benchmarks.extraction"),
    )


if __name__ == "__main__":
    sys.exit(main())
