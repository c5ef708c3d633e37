"""The extraction benchmark: each connector against the plainest read of its source's own store.

`python -m benchmarks.extraction` builds (or reuses) a simulated world, then for each connector
runs a full extraction of everything up to the simulator clock into a fresh lake, and a baseline
that reads the same records straight from the store behind the source into Arrow. The ratio of
the two says what the connector's extra work costs (the API round trips, parsing each record,
quarantine, the Parquet landing, state) on this machine today, so figures from a shared, noisy
machine stay comparable from run to run.

Every measured run is a child process of its own (`benchmarks/harness/children.py`), so its peak
memory (`ru_maxrss`) is its own.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import shutil
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.harness.children import run_child
from benchmarks.harness.command import BenchmarkError, run_command
from benchmarks.harness.landing import run_landing, running_servers
from benchmarks.harness.options import add_scale_options, resolve_scales
from benchmarks.harness.probes import measure_streams, read_through
from benchmarks.harness.readme import record_results
from benchmarks.harness.results import ResultsFile
from benchmarks.harness.stores import STORE_TABLES
from benchmarks.harness.tables import Column, Table, cell, ratio, table_of, text_table
from benchmarks.harness.world import World, prepare_world, store_files

log = logging.getLogger("benchmarks.extraction")

DEFAULT_SCALES = (100_000,)


def source_names() -> list[str]:
    """Every registered source, in the registry's order."""
    from connectors.registry import registry

    return list(registry().sources)


# The baselines: run inside a child process --------------------------------------------------------


def sqlite_baseline(source: str, sim_dir: str, clock: str) -> dict[str, Any]:
    """Each table behind `source`, up to `clock`, read with one `fetchall` into a `pyarrow` table."""
    import sqlite3

    import pyarrow as pa

    from connectors.registry import registry

    tables = {c.stream: STORE_TABLES[c.name] for c in registry().source(source).streams}
    [filename] = {t.filename for t in tables.values()}
    window_end = datetime.fromisoformat(clock)

    def work() -> dict[str, dict[str, Any]]:
        streams = {}
        conn = sqlite3.connect(f"file:{Path(sim_dir) / filename}?mode=ro", uri=True)
        try:
            for stream, spec in tables.items():
                started = time.perf_counter()
                cursor = conn.execute(
                    f"SELECT * FROM {spec.table} WHERE {spec.time_column} < ?", (spec.window_end(window_end),)
                )
                names = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
                # One list per column is quicker than transposing with zip(*rows) (measured: ~25 %).
                table = pa.table({name: pa.array([row[i] for row in rows]) for i, name in enumerate(names)})
                del rows
                streams[stream] = {"rows": table.num_rows, "seconds": time.perf_counter() - started}
                del table
        finally:
            conn.close()
        return streams

    return measure_streams(work)


def web_baseline(source: str, sim_dir: str, clock: str) -> dict[str, Any]:
    """Every dropped event file read by DuckDB's `read_json` into one Arrow table.

    With `ignore_errors` a line that is not JSON becomes a row of nulls rather than being
    dropped, so the count is the same line count the connector lands or quarantines."""
    import duckdb

    def work() -> dict[str, dict[str, Any]]:
        started = time.perf_counter()
        con = duckdb.connect()
        try:
            # `con.sql(...)`, not `con.execute(...)`: DuckDB copies the rows once more on the DB-API path.
            table = con.sql(
                "SELECT * FROM read_json($files, format = 'newline_delimited', ignore_errors = true)",
                params={"files": str(Path(sim_dir) / "web" / "**" / "*.jsonl.gz")},
            ).to_arrow_table()
        finally:
            con.close()
        return {"events": {"rows": table.num_rows, "seconds": time.perf_counter() - started}}

    return measure_streams(work)


def run_baseline(source: str, world: World) -> dict[str, Any]:
    """The baseline of one source in a fresh child process; its figures."""
    return run_child(
        f"benchmarks.extraction:{'web_baseline' if source == 'web' else 'sqlite_baseline'}",
        f"the baseline run for {source}",
        source=source,
        sim_dir=str(world.sim_dir),
        clock=world.clock.isoformat(),
    )


# The run: world, servers, children, figures -----------------------------------------------------


def measure(world: World, sources: list[str], repeat: int, workdir: Path) -> dict[str, dict[str, list[dict]]]:
    """Every run of every source, connector and baseline taking turns so drift hits both alike."""
    token = secrets.token_hex(16)
    runs: dict[str, dict[str, list[dict]]] = {s: {"connector": [], "baseline": []} for s in sources}
    scratch = workdir / "runs"
    with running_servers(world.sim_dir, token) as urls:
        for attempt in range(1, repeat + 1):
            for source in sources:
                for kind in ("connector", "baseline"):
                    out_dir = scratch / f"{source}-{kind}-{attempt}"
                    shutil.rmtree(out_dir, ignore_errors=True)
                    out_dir.mkdir(parents=True)
                    try:
                        if kind == "connector":
                            figures = run_landing(source, world, out_dir, urls, token)
                        else:
                            figures = run_baseline(source, world)
                    finally:
                        shutil.rmtree(out_dir, ignore_errors=True)
                    runs[source][kind].append(figures)
                    log.info(
                        "run %d/%d %-5s %-9s %10s rows in %7.2f s, peak %6.1f MB",
                        attempt,
                        repeat,
                        source,
                        kind,
                        f"{figures['rows']:,}",
                        figures["seconds"],
                        figures["peak_mb"],
                    )
    shutil.rmtree(scratch, ignore_errors=True)
    return runs


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _stream_summary(name: str, connector_runs: list[dict], baseline_runs: list[dict]) -> dict[str, Any]:
    """One stream's counts and median seconds, for the connector and the baseline."""
    mine = [r["streams"][name] for r in connector_runs]
    theirs = [r["streams"][name] for r in baseline_runs if name in r["streams"]]
    return {
        "rows": mine[0]["rows"],
        "quarantined": mine[0]["quarantined"],
        "seconds": _median(mine, "seconds"),
        "baseline_rows": theirs[0]["rows"] if theirs else None,
        "baseline_seconds": _median(theirs, "seconds") if theirs else None,
    }


def summarise(source: str, connector_runs: list[dict], baseline_runs: list[dict]) -> dict[str, Any]:
    """One row of the results: medians over the repeats, rates and the connector ÷ baseline ratios."""
    first, base = connector_runs[0], baseline_runs[0]
    for label, group in (("connector", connector_runs), ("baseline", baseline_runs)):
        if len({r["rows"] for r in group}) > 1:
            raise BenchmarkError(
                f"{source}: the {label} runs landed different row counts: {[r['rows'] for r in group]}"
            )
    seconds, base_seconds = _median(connector_runs, "seconds"), _median(baseline_runs, "seconds")
    peak, base_peak = _median(connector_runs, "peak_mb"), _median(baseline_runs, "peak_mb")
    records = first["rows"] + first["quarantined"]
    if records != base["rows"]:
        log.warning(
            "%s: the connector saw %d records (landed + quarantined) but the baseline read %d",
            source,
            records,
            base["rows"],
        )
    return {
        "connector": source,
        "streams": {name: _stream_summary(name, connector_runs, baseline_runs) for name in first["streams"]},
        "rows": first["rows"],
        "quarantined": first["quarantined"],
        "seconds": seconds,
        "cpu_seconds": _median(connector_runs, "cpu_seconds"),
        "rows_per_s": first["rows"] / seconds,
        "peak_mb": peak,
        "baseline_rows": base["rows"],
        "baseline_seconds": base_seconds,
        "baseline_cpu_seconds": _median(baseline_runs, "cpu_seconds"),
        "baseline_rows_per_s": base["rows"] / base_seconds,
        "baseline_peak_mb": base_peak,
        "time_ratio": ratio(seconds, base_seconds),
        "memory_ratio": ratio(peak, base_peak),
        "records_match": records == base["rows"],
        "runs": {"connector": connector_runs, "baseline": baseline_runs},
    }


COLUMNS: tuple[Column, ...] = (
    ("connector", cell("connector")),
    ("rows", cell("rows", ",")),
    ("quarantined", cell("quarantined", ",")),
    ("seconds", cell("seconds", ".2f")),
    ("rows/s", cell("rows_per_s", ",.0f")),
    ("peak MB", cell("peak_mb", ".0f")),
    ("baseline s", cell("baseline_seconds", ".2f")),
    ("baseline rows/s", cell("baseline_rows_per_s", ",.0f")),
    ("baseline MB", cell("baseline_peak_mb", ".0f")),
    ("time ×", cell("time_ratio", ".1f")),
    ("memory ×", cell("memory_ratio", ".2f")),
)


def readme_tables(report: dict[str, Any]) -> dict[str, Table]:
    """The results table, one row per connector: what the run prints and the README shows."""
    return {"results": table_of(COLUMNS, report["results"])}


def run_benchmark(args: argparse.Namespace) -> Path:
    """The whole benchmark; returns the path of the JSON results."""
    workdir = Path(args.workdir).resolve()
    results_file = ResultsFile(workdir, "extraction", args.repeat)
    world = prepare_world(workdir, args.customers, args.seed)
    read_through(store_files(world.sim_dir))
    runs = measure(world, args.only, args.repeat, workdir)
    results = [summarise(s, runs[s]["connector"], runs[s]["baseline"]) for s in args.only]
    report = results_file.write(results, world={"customers": world.customers, "seed": world.seed, **world.summary()})

    print(
        f"\nExtraction at {world.customers:,} customers (seed {world.seed}), everything up to"
        f" {world.clock:%Y-%m-%d %H:%M} UTC; {results_file.conditions(results_file.machine['load_average'])}"
    )
    print(text_table(readme_tables(report)["results"]))
    print(f"\ntime × and memory × are connector ÷ baseline. Results: {results_file.path}")
    if args.record:
        record_results(results_file.path, "extraction", readme_tables)
    return results_file.path


def _connector_list(text: str) -> list[str]:
    known = source_names()
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown connector(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}"
        )
    return list(dict.fromkeys(names))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.extraction",
        description="Time each connector's full extraction against a plain read of the same source store "
        "into Arrow, in the same run (see benchmarks/README.md).",
    )
    add_scale_options(parser, DEFAULT_SCALES, "runs of each, reporting the median", several=False)
    parser.add_argument(
        "--only",
        type=_connector_list,
        default=None,
        help=f"comma-separated: {','.join(source_names())} (default all)",
    )
    args = parser.parse_args(argv)
    resolve_scales(args, DEFAULT_SCALES)
    args.only = args.only or source_names()
    return args


def main(argv: list[str] | None = None) -> int:
    return run_command(parse_args(argv), "extraction", run_benchmark)


if __name__ == "__main__":
    sys.exit(main())
