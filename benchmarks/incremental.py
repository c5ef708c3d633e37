"""The incremental-run benchmark: a daily run of the unify step against a full rebuild of the same lake.

`python -m benchmarks.incremental` takes the transform benchmark's world and landed lake per scale
(built only if not there), and makes a private copy of both, so the shared ones never change. On the
copy it builds the warehouse once (day 0), advances the copied world by one day and lands that day (or
its first `--hours`, for a run with fewer changes) with the connectors, as a daily pipeline
run does. Then, from the same day-0 warehouse each time, it times `tessera.dbt_runner.run_transform`
twice, taking turns: the **incremental** run (staging reads only the batches landed since the last run,
stitching re-stitches only the components whose edges changed) and a **full refresh** of the same lake
(`--full-refresh`). The ratio of the two says what a daily run saves, on this machine today, so figures
from a shared, noisy machine stay comparable from run to run.

Every measured run is a child process of its own (`benchmarks/harness/children.py`), so its peak
memory is its own.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness.build_stages import (
    STAGING,
    STITCHING,
    build_target,
    failed_nodes,
    read_build_nodes,
    stage_medians,
    timed_build,
)
from benchmarks.harness.children import run_child
from benchmarks.harness.command import BenchmarkError
from benchmarks.harness.landing import Lake, land_streams, prepare_lake, warm_lake
from benchmarks.harness.options import positive_int
from benchmarks.harness.probes import peak_memory_mb
from benchmarks.harness.scales import ScaleBenchmark
from benchmarks.harness.tables import Table, ratio, ratio_cell, share_cell
from benchmarks.harness.world import DEFAULT_WORLD, World, main_on_a_world, prepare_world

log = logging.getLogger("benchmarks.incremental")

DEFAULT_SCALES = (100_000,)
INCREMENTAL, FULL = "incremental", "full refresh"
RESOLUTION_TABLE = "intermediate.int_identity_resolution"
#: What the staging macro `landed_since_last_run()` adds to a model's SQL on its incremental path.
INCREMENTAL_FILTER = "_visible_at > ("
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
        if r["unique_id"].startswith("model.")
        and INCREMENTAL_FILTER in (r.get("compiled_code") or "")
        and "def model(" not in (r.get("compiled_code") or "")  # a Python model's source, not the SQL it ran
    )


def build_child(home: str, full_refresh: bool) -> dict[str, Any]:
    """One `dbt build` of the whole project over the home's day-0 warehouse, timed per stage."""
    root = Path(home)
    figures, wall_start = timed_build(root, full_refresh=full_refresh)
    return {
        **figures,
        # The benchmark keeps the day-0 warehouse next to the home (see `NextDay`).
        **stitching_changes(root / "warehouse.duckdb", root.parent / DAY0_WAREHOUSE, wall_start),
        "incremental_models": incremental_models(build_target(root)),
    }


def day0_child(home: str) -> dict[str, Any]:
    """Every seed and model built from the lake into a fresh warehouse: what a full build leaves there.
    Tests change nothing in the warehouse, so they are left out here; each measured run runs them all.
    The landed batches pass their checks first, as in any run: dbt reads only checked batches."""
    from tessera.dbt_runner import run_dbt
    from tessera.gates import check_pending_batches
    from tessera.home import TesseraHome

    root = Path(home)
    started = time.perf_counter()
    check_pending_batches(TesseraHome(root))
    run_dbt(["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"], TesseraHome(root))
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": peak_memory_mb(),
        "nodes": read_build_nodes(build_target(root)),
    }


def run_build(run: str, home: Path) -> dict[str, Any]:
    """One build (`day 0`, `incremental` or `full refresh`) in a child process on `home`; its figures."""
    if run == "day 0":
        return run_child("benchmarks.incremental:day0_child", f"the day-0 build in {home}", home=str(home))
    return run_child(
        "benchmarks.incremental:build_child", f"the {run} run in {home}", home=str(home), full_refresh=run == FULL
    )


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


def prepare_next_day(workdir: Path, world: World, lake: Lake, hours: int = 24) -> NextDay:
    """Copy the world and the landed home, build the warehouse on the copy (day 0), keep that
    warehouse, then advance the copied world one day and land the first `hours` of the day into the
    copied lake.

    Made again on every run: a day-0 warehouse kept from an earlier run may have been built by other
    code than the runs measured now."""
    from tessera_simulator import Simulator

    log.info("copying world and lake to %s, then day 0 and the next day (not part of the figures)", workdir)
    started = time.perf_counter()
    root = workdir / f"incremental-c{world.customers}-s{world.seed}"
    home, sim_dir = root / "home", root / "world"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copytree(world.sim_dir, sim_dir)
    for folder in ("lake", "state"):
        shutil.copytree(lake.root / folder, home / folder)

    log.info("  day 0: every seed and model built from the copied lake…")
    day0 = run_build("day 0", home)
    if failed := failed_nodes(day0):
        raise BenchmarkError(f"the day-0 build in {home} reported nodes that did not succeed: {failed}")
    shutil.copyfile(home / "warehouse.duckdb", root / DAY0_WAREHOUSE)
    log.info("  day 0 built in %.1f s (peak %.0f MB)", day0["seconds"], day0["peak_mb"])

    sim = Simulator.open(sim_dir)
    day_start = sim.clock
    sim.advance(days=1)
    end = min(sim.clock, day_start + timedelta(hours=hours))
    day = replace(world, sim_dir=sim_dir, clock=end, setup="advanced", setup_seconds=0.0)
    log.info("  world copy advanced to %s; landing the day [%s, %s)…", day.clock.isoformat(), day_start, day.clock)
    streams = land_streams(day, home, day_start)
    next_day = NextDay(root, home, sim_dir, day_start, day.clock, day0, streams, time.perf_counter() - started)
    log.info(
        "next day landed: %s rows (%s quarantined) in %s; preparing took %.1f s",
        f"{next_day.rows:,}",
        f"{next_day.quarantined:,}",
        home / "lake",
        next_day.seconds,
    )
    return next_day


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
        for run in runs:
            restore_day0(day)
            build = run_build(run, day.home)
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


def summarise_runs(builds: list[dict[str, Any]]) -> dict[str, Any]:
    """One kind of run's medians over the repeats: wall time, memory and seconds per stage."""
    return {
        "seconds": statistics.median(b["seconds"] for b in builds),
        "cpu_seconds": statistics.median(b["cpu_seconds"] for b in builds),
        "peak_mb": statistics.median(b["peak_mb"] for b in builds),
        "stages": stage_medians(builds),
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
        "world": world.summary(),
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
            "share_of_lake": ratio(day.rows, lake_rows),
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
            "seconds": ratio(inc["seconds"], full["seconds"]),
            "cpu_seconds": ratio(inc["cpu_seconds"], full["cpu_seconds"]),
            "peak_mb": ratio(inc["peak_mb"], full["peak_mb"]),
            "stages": {
                stage: ratio(inc["stages"][stage]["seconds"], full["stages"].get(stage, {}).get("seconds"))
                for stage in inc["stages"]
            },
        },
        "runs": runs,
    }


def runs_table(result: dict[str, Any]) -> Table:
    """incremental, full refresh and their ratio: wall time, memory, seconds per stage, edges re-decided."""
    stages = list(result[INCREMENTAL]["stages"])
    rows = []
    for run in (INCREMENTAL, FULL):
        r = result[run]
        seconds = (r["stages"].get(stage, {}).get("seconds") for stage in stages)
        rows.append(
            (
                run,
                f"{r['seconds']:.2f}",
                f"{r['peak_mb']:,.0f}",
                *("" if s is None else f"{s:.2f}" for s in seconds),
                share_cell(r["redecided_share"]),
                share_cell(r["changed_share"]),
            )
        )
    ratios = result["ratio"]
    rows.append(
        (
            "incremental ÷ full",
            ratio_cell(ratios["seconds"]),
            ratio_cell(ratios["peak_mb"]),
            *(ratio_cell(ratios["stages"][stage]) for stage in stages),
            "",
            "",
        )
    )
    return Table(("run", "build s", "peak MB", *stages, "re-decided", "changed"), tuple(rows))


def summary_line(r: dict[str, Any]) -> str:
    day, ratios = r["day"], r["ratio"]
    return (
        f"A day of {day['rows']:,} new rows ({share_cell(day['share_of_lake'])} of the {day['lake_rows']:,} in the"
        f" lake): incremental {r[INCREMENTAL]['seconds']:.1f} s, full refresh {r[FULL]['seconds']:.1f} s,"
        f" incremental ÷ full {ratio_cell(ratios['seconds'])} (staging {ratio_cell(ratios['stages'][STAGING])},"
        f" stitching {ratio_cell(ratios['stages'][STITCHING])}). Stitching re-decided {r['redecided_edges']:,.0f}"
        f" of {r['edges']:,} edges ({share_cell(r['redecided_share'])}) and changed {r['changed_edges']:,.0f}"
        f" ({share_cell(r['changed_share'])})."
    )


def scales_table(results: list[dict[str, Any]]) -> Table:
    header = (
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
    )
    rows = tuple(
        (
            f"{r['customers']:,}",
            f"{r['day']['lake_rows']:,}",
            f"{r['day']['rows']:,}",
            f"{r[INCREMENTAL]['seconds']:.1f}",
            f"{r[FULL]['seconds']:.1f}",
            ratio_cell(r["ratio"]["seconds"]),
            ratio_cell(r["ratio"]["stages"][STAGING]),
            ratio_cell(r["ratio"]["stages"][STITCHING]),
            share_cell(r["redecided_share"]),
            share_cell(r["changed_share"]),
        )
        for r in results
    )
    return Table(header, rows)


def readme_tables(report: dict[str, Any]) -> dict[str, Table]:
    """The runs table per scale (`runs-<customers>`) and the table across the scales (`scales`)."""
    tables = {f"runs-{r['customers']}": runs_table(r) for r in report["results"]}
    return {**tables, "scales": scales_table(report["results"])}


def run_scale(
    workdir: Path, customers: int, seed: int, repeat: int, shape: str = DEFAULT_WORLD, hours: int = 24
) -> dict[str, Any]:
    """World (of `shape`), lake, the private copy a day later (its first `hours` landed), and every measured run
    at one scale; its summary."""
    world = prepare_world(workdir, customers, seed, shape)
    lake = prepare_lake(world.workdir, world)
    day = prepare_next_day(world.workdir, world, lake, hours)
    warm_lake(day.home)
    log.info("measuring: %d × (incremental run, then full refresh), each from the day-0 warehouse", repeat)
    runs = measure(day, repeat)
    return summarise(world, lake, day, runs)


def heading(result: dict[str, Any]) -> str:
    return (
        f"Daily run against a full refresh at {result['customers']:,} customers (seed {result['seed']}):"
        f" [{result['day']['start'][:16]}, {result['day']['end'][:16]}) landed on a lake of {result['lake']['rows']:,} rows"
    )


BENCHMARK = ScaleBenchmark(
    name="incremental",
    description="Time a daily incremental run of the unify step (dbt build) against a full refresh of the "
    "same lake, per stage, in the same run (see benchmarks/README.md).",
    default_scales=DEFAULT_SCALES,
    repeat_help="incremental runs and full refreshes per scale, reporting the median",
    run_scale=run_scale,
    heading=heading,
    table="runs",
    summary=summary_line,
    readme_tables=readme_tables,
    footnote="Stage columns: the build's wall time split between the nodes running at each instant, in seconds."
    " re-decided: edges whose stitching decision the run made; changed: edges not as they were on day 0.",
)


def hours_option(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], dict[str, Any]]:
    """--hours: how much of the next day lands before the daily run (the simulator's quiet night hours hold
    few changes: the first 6 hours are 0.3 % of a month's lake, the whole day 4–5 %)."""
    parser.add_argument(
        "--hours",
        type=positive_int,
        default=24,
        help="land only the first HOURS of the next day (default 24, the whole day)",
    )
    return lambda args: {"hours": min(args.hours, 24)}


def main(argv: list[str] | None = None) -> int:
    return main_on_a_world(BENCHMARK, argv, hours_option)


if __name__ == "__main__":
    sys.exit(main())
