"""The extraction benchmark: each connector against the plainest read of its source's own store.

`python -m benchmarks.extraction` builds (or reuses) a simulated world, then for each connector
runs a full extraction of everything up to the simulator clock into a fresh lake, and a baseline
that reads the same records straight from the store behind the source into Arrow. The ratio of
the two says what the connector's extra work costs (the API round trips, parsing each record,
quarantine, the Parquet landing, state) on this machine today, so figures from a shared, noisy
machine stay comparable from run to run.

Every measured run is a child process of its own, so its peak memory (`ru_maxrss`) is its own.
The children are this module started with the hidden `--child` flag; they print one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import run_command
from benchmarks.scales import positive_int

log = logging.getLogger("benchmarks.extraction")

CONNECTORS = ("crm", "email", "pos", "web")
START_DATE = date(2026, 1, 1)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
TOKEN_ENV = "TESSERA_BENCH_TOKEN"

#: Starts a measured child from a small Python process. Linux folds the resident size of the
#: process that calls exec() into the new program's `ru_maxrss`, so a child started straight
#: from this parent (which holds the HTTP servers and the world it built) would report the
#: parent's peak instead of its own.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


@dataclass(frozen=True)
class StoreTable:
    """One table behind a SQL-backed source, and how the connector's window end filters it."""

    stream: str  # the connector's stream name
    table: str
    time_column: str
    bound: str  # "epoch_ms" (the API stores) or "naive_text" (SQLAlchemy DateTime on SQLite)


#: The SQLite file and tables each API or database reads from.
SQLITE_STORES: dict[str, tuple[str, tuple[StoreTable, ...]]] = {
    "crm": ("crm.sqlite", (StoreTable("contacts", "contacts", "updated_ms", "epoch_ms"),)),
    "email": (
        "esp.sqlite",
        (
            StoreTable("subscribers", "members", "last_changed_ms", "epoch_ms"),
            StoreTable("events", "events", "ts_ms", "epoch_ms"),
        ),
    ),
    "pos": (
        "pos.sqlite",
        (
            StoreTable("loyalty_members", "loyalty_members", "updated_at", "naive_text"),
            StoreTable("transactions", "transactions", "occurred_at", "naive_text"),
        ),
    ),
}


class BenchmarkError(Exception):
    """A benchmark step failed; the message says which and what the child printed."""


# The measured work: runs inside a child process --------------------------------------------------


def peak_memory_mb() -> float:
    """This process's peak resident set size (`ru_maxrss` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def connection_for(source: str, sim_dir: Path, crm_url: str, esp_url: str, token: str):
    """The connection a user would configure for one simulated source (as `tests/sources.py` does)."""
    from connectors.connection import ConnectionInfo

    if source in ("crm", "email"):
        url = crm_url if source == "crm" else esp_url
        return ConnectionInfo(f"tessera_{source}", "http", host=url, password=token)
    if source == "pos":
        return ConnectionInfo("tessera_pos", "sqlite", extra={"url": f"sqlite:///{sim_dir / 'pos.sqlite'}"})
    return ConnectionInfo("tessera_web", "fs", extra={"path": str(sim_dir / "web")})


#: A piece of measured work: reads or extracts every stream, returning per-stream figures.
Work = Callable[[], dict[str, dict[str, Any]]]


def connector_work(
    source: str,
    sim_dir: Path,
    clock: datetime,
    out_dir: Path,
    crm_url: str,
    esp_url: str,
    token: str,
    start: datetime | None = None,
) -> Work:
    """Every stream of `source` for the window [start, clock) into the lake in `out_dir`: with no
    `start`, a first full load into a fresh lake; with one, the next batch on top of its cursors."""
    from connectors.base import Window
    from connectors.extraction import extract
    from connectors.sources import build_streams

    # Configuring the streams imports every source package; that stays outside the timing.
    configured = build_streams(source, connection_for(source, sim_dir, crm_url, esp_url, token))

    def work() -> dict[str, dict[str, Any]]:
        streams = {}
        for stream in configured:
            started = time.perf_counter()
            result = extract(stream, Window(start, clock), lake=out_dir / "lake", state_dir=out_dir / "state")
            streams[result.stream] = {
                "rows": result.rows,
                "quarantined": result.quarantined,
                "seconds": time.perf_counter() - started,
            }
        return streams

    return work


def _bound_value(clock: datetime, bound: str) -> int | str:
    utc = clock.astimezone(UTC)
    if bound == "epoch_ms":
        return int(utc.timestamp() * 1000)
    return utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def sqlite_baseline_work(source: str, sim_dir: Path, clock: datetime) -> Work:
    """Each table behind `source`, up to `clock`, read with one `fetchall` into a `pyarrow` table."""
    import sqlite3

    import pyarrow as pa

    filename, tables = SQLITE_STORES[source]

    def work() -> dict[str, dict[str, Any]]:
        streams = {}
        conn = sqlite3.connect(f"file:{sim_dir / filename}?mode=ro", uri=True)
        try:
            for spec in tables:
                started = time.perf_counter()
                cursor = conn.execute(
                    f"SELECT * FROM {spec.table} WHERE {spec.time_column} < ?", (_bound_value(clock, spec.bound),)
                )
                names = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
                # One list per column is quicker than transposing with zip(*rows) (measured: ~25 %).
                table = pa.table({name: pa.array([row[i] for row in rows]) for i, name in enumerate(names)})
                del rows
                streams[spec.stream] = {"rows": table.num_rows, "seconds": time.perf_counter() - started}
                del table
        finally:
            conn.close()
        return streams

    return work


def web_baseline_work(sim_dir: Path) -> Work:
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
                params={"files": str(sim_dir / "web" / "**" / "*.jsonl.gz")},
            ).to_arrow_table()
        finally:
            con.close()
        return {"events": {"rows": table.num_rows, "seconds": time.perf_counter() - started}}

    return work


def warm_up_pyarrow() -> None:
    """Pay pyarrow's one-time lazy imports (its first conversion imports pandas, about a second)
    before the clock starts, as both the connector and the baseline would otherwise pay them."""
    import pyarrow as pa

    pa.array([0])


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_work(work: Work) -> dict[str, Any]:
    """Time one piece of work: wall and CPU seconds, totals over its streams, and the process's peak memory."""
    cpu, started = cpu_seconds(), time.perf_counter()
    streams = work()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rows": sum(s["rows"] for s in streams.values()),
        "quarantined": sum(s.get("quarantined", 0) for s in streams.values()),
        "peak_mb": peak_memory_mb(),
        "streams": streams,
    }


def child_main(args: argparse.Namespace) -> int:
    """Run one measured piece of work and print its figures as one JSON line."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sim_dir, clock = Path(args.sim_dir), datetime.fromisoformat(args.clock)
    if args.child == "connector":
        token = os.environ[TOKEN_ENV]
        start = datetime.fromisoformat(args.window_start) if args.window_start else None
        work = connector_work(args.source, sim_dir, clock, Path(args.out_dir), args.crm_url, args.esp_url, token, start)
    elif args.source == "web":
        work = web_baseline_work(sim_dir)
    else:
        work = sqlite_baseline_work(args.source, sim_dir, clock)
    warm_up_pyarrow()
    print(json.dumps(run_work(work)))
    return 0


# The run: world, servers, children, figures -----------------------------------------------------


@dataclass(frozen=True)
class World:
    sim_dir: Path
    clock: datetime
    customers: int
    seed: int
    setup: str  # what preparing it took: "built", "advanced" or "reused"
    setup_seconds: float


def prepare_world(workdir: Path, customers: int, seed: int) -> World:
    """A world of `customers` advanced at least one day past its start, built only if not there."""
    from tessera_simulator import Simulator, SimulatorConfig

    sim_dir = workdir / f"world-c{customers}-s{seed}"
    existed = (sim_dir / "state.json").exists()
    started = time.perf_counter()
    sim = Simulator(sim_dir, SimulatorConfig(customers=customers, seed=seed, start_date=START_DATE))
    sim.initialize()
    advanced = sim.clock.date() <= START_DATE
    if advanced:
        sim.advance(days=1)
    setup = "reused" if existed and not advanced else "advanced" if existed else "built"
    return World(sim_dir, sim.clock, customers, seed, setup, time.perf_counter() - started)


def warm_page_cache(sim_dir: Path) -> None:
    """Read every store file once, so neither the connector nor its baseline pays for a cold disk."""
    paths = [sim_dir / f for f in ("crm.sqlite", "esp.sqlite", "pos.sqlite")]
    paths += sorted((sim_dir / "web").glob("*/*/*/*/*.jsonl.gz"))
    for path in paths:
        if path.exists():
            with open(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass


@contextmanager
def running_servers(sim_dir: Path, token: str) -> Iterator[tuple[str, str]]:
    from tessera_simulator.servers import run_servers

    with run_servers(sim_dir, token=token) as urls:
        yield urls.crm, urls.esp


def run_child(
    kind: str,
    source: str,
    world: World,
    out_dir: Path,
    urls: tuple[str, str],
    token: str,
    start: datetime | None = None,
) -> dict:
    """One measured run in a fresh child process (a connector's window starts at `start`); its figures."""
    command = [
        *(sys.executable, "-S", "-c", LAUNCHER),
        *(sys.executable, "-m", "benchmarks.extraction", "--child", kind, "--source", source),
        *("--sim-dir", str(world.sim_dir), "--clock", world.clock.isoformat(), "--out-dir", str(out_dir)),
        *("--crm-url", urls[0], "--esp-url", urls[1]),
        *(("--window-start", start.isoformat()) if start else ()),
    ]
    proc = subprocess.run(
        command, cwd=PROJECT_ROOT, env={**os.environ, TOKEN_ENV: token}, capture_output=True, text=True, check=False
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
        raise BenchmarkError(
            f"the {kind} run for {source} failed (exit {proc.returncode}); its last output:\n{tail or '(none)'}"
        )
    return json.loads(lines[-1])


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
                        figures = run_child(kind, source, world, out_dir, urls, token)
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


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


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
        "time_ratio": _ratio(seconds, base_seconds),
        "memory_ratio": _ratio(peak, base_peak),
        "records_match": records == base["rows"],
        "runs": {"connector": connector_runs, "baseline": baseline_runs},
    }


COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("connector", "connector", str),
    ("rows", "rows", lambda v: f"{v:,}"),
    ("quarantined", "quarantined", lambda v: f"{v:,}"),
    ("seconds", "seconds", lambda v: f"{v:.2f}"),
    ("rows/s", "rows_per_s", lambda v: f"{v:,.0f}"),
    ("peak MB", "peak_mb", lambda v: f"{v:.0f}"),
    ("baseline s", "baseline_seconds", lambda v: f"{v:.2f}"),
    ("baseline rows/s", "baseline_rows_per_s", lambda v: f"{v:,.0f}"),
    ("baseline MB", "baseline_peak_mb", lambda v: f"{v:.0f}"),
    ("time ×", "time_ratio", lambda v: "n/a" if v is None else f"{v:.1f}"),
    ("memory ×", "memory_ratio", lambda v: "n/a" if v is None else f"{v:.2f}"),
)


def format_table(results: list[dict[str, Any]]) -> str:
    header = [title for title, _, _ in COLUMNS]
    body = [[fmt(row[key]) for _, key, fmt in COLUMNS] for row in results]
    widths = [max(len(cells[i]) for cells in [header, *body]) for i in range(len(COLUMNS))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(cells) for cells in body)])


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def run_benchmark(args: argparse.Namespace) -> Path:
    """The whole benchmark; returns the path of the JSON results."""
    workdir = Path(args.workdir).resolve()
    started_at = datetime.now(UTC)
    machine_before = machine()
    log.info("preparing a world of %s customers (seed %d) in %s", f"{args.customers:,}", args.seed, workdir)
    world = prepare_world(workdir, args.customers, args.seed)
    log.info(
        "world %s in %.1f s (not part of the figures); clock %s",
        {"built": "built (initialise + advance 1 day)", "advanced": "advanced 1 day", "reused": "reused"}[world.setup],
        world.setup_seconds,
        world.clock.isoformat(),
    )
    warm_page_cache(world.sim_dir)
    runs = measure(world, args.only, args.repeat, workdir)
    results = [summarise(s, runs[s]["connector"], runs[s]["baseline"]) for s in args.only]

    report = {
        "benchmark": "extraction",
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": {**machine_before, "load_average_after": machine()["load_average"]},
        "world": {
            "customers": world.customers,
            "seed": world.seed,
            "sim_dir": str(world.sim_dir),
            "clock": world.clock.isoformat(),
            "setup": world.setup,
            "setup_seconds": world.setup_seconds,
        },
        "repeat": args.repeat,
        "statistic": "median",
        "results": results,
    }
    out = workdir / "results" / f"extraction-{started_at:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")

    load = machine_before["load_average"]
    print(
        f"\nExtraction at {world.customers:,} customers (seed {world.seed}), everything up to"
        f" {world.clock:%Y-%m-%d %H:%M} UTC; median of {args.repeat} run{'s' if args.repeat > 1 else ''};"
        f" {machine_before['cpus']} CPUs" + (f", load {load[0]:.2f} at the start" if load else "")
    )
    print(format_table(results))
    print(f"\ntime × and memory × are connector ÷ baseline. Results: {out}")
    return out


def _connector_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONNECTORS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown connector(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(CONNECTORS)}"
        )
    return list(dict.fromkeys(names))


def default_workdir() -> Path:
    return Path(os.environ.get("TESSERA_HOME") or "data") / "bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.extraction",
        description="Time each connector's full extraction against a plain read of the same source store "
        "into Arrow, in the same run (see benchmarks/README.md).",
    )
    parser.add_argument("--customers", type=positive_int, default=100_000, help="people in the world (default 100000)")
    parser.add_argument("--seed", type=int, default=42, help="the world's seed (default 42)")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the world and results go (default $TESSERA_HOME/bench)"
    )
    parser.add_argument(
        "--only",
        type=_connector_list,
        default=list(CONNECTORS),
        help="comma-separated: crm,email,pos,web (default all)",
    )
    parser.add_argument("--repeat", type=positive_int, default=3, help="runs of each, reporting the median (default 3)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    hidden = argparse.SUPPRESS
    parser.add_argument("--child", choices=("connector", "baseline"), help=hidden)
    parser.add_argument("--source", choices=CONNECTORS, help=hidden)
    parser.add_argument("--sim-dir", help=hidden)
    parser.add_argument("--clock", help=hidden)
    parser.add_argument("--window-start", help=hidden)
    parser.add_argument("--out-dir", help=hidden)
    parser.add_argument("--crm-url", help=hidden)
    parser.add_argument("--esp-url", help=hidden)
    args = parser.parse_args(argv)
    if args.workdir is None:
        args.workdir = default_workdir()
    return args


def main(argv: list[str] | None = None) -> int:
    return run_command(
        parse_args(argv),
        "extraction",
        child_main,
        run_benchmark,
        (BenchmarkError, ValueError, OSError),
        ("benchmarks.extraction",),
    )


if __name__ == "__main__":
    sys.exit(main())
