"""The unify benchmark: the whole `dbt build` per stage, and stitching against plain connected components.

`python -m benchmarks.transform` builds (or reuses) a simulated world per scale, lands every stream
with the connectors into a lake that later runs reuse, then times `tessera.transform.run_transform`
(`dbt build` of `dbt_project/`) into a fresh warehouse, with each node's time from dbt's
`run_results.json` grouped into stages. In the same run, a baseline reads the identity edges the
build produced and labels them with scipy's `connected_components` and nothing else, next to
`transforms.identity.stitching.stitch` on the same edges in the same process. The ratio of the two
says what merge protection and customer keys cost over raw connected components, on this machine
today, so figures from a shared, noisy machine stay comparable from run to run.

Every measured run is a child process of its own (started through the extraction benchmark's
launcher), so its peak memory is its own; the children print one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from benchmarks.extraction import (
    CONNECTORS,
    LAUNCHER,
    PROJECT_ROOT,
    BenchmarkError,
    World,
    cpu_seconds,
    default_workdir,
    machine,
    peak_memory_mb,
    prepare_world,
    run_child,
    running_servers,
)
from benchmarks.harness import run_command
from benchmarks.scales import add_scale_options, resolve_scales

log = logging.getLogger("benchmarks.transform")

DEFAULT_SCALES = (100_000, 1_000_000)

SEEDS, STAGING, EDGES, STITCHING, GOLDEN, TESTS = (
    "seeds + hooks",
    "staging",
    "identity edges",
    "stitching",
    "golden marts",
    "tests",
)
#: The stages of the build, in the order the table lists them.
STAGES = (SEEDS, STAGING, EDGES, STITCHING, GOLDEN, TESTS)
#: A node no rule below places (a model in a new folder); listed so its time is not lost.
OTHER = "other"
#: Wall time during which no node ran: dbt's start-up, (partial) parsing, graph and artifacts.
OVERHEAD = "dbt overhead"
STITCH_MODEL = "int_identity_resolution"
#: Screening (blocklist, shared values) was part of the stitching model once; it stays in that stage.
SCREEN_MODEL = "int_identity_edge_screening"
EDGES_TABLE = "intermediate.int_identity_edges"


# Which stage a dbt node belongs to ----------------------------------------------------------------


def stage_of(unique_id: str, fqn: list[str]) -> str:
    """The stage of one node of the build, from its kind and the model's folder (`fqn`).

    Models of `intermediate/identity` downstream of stitching (`int_customer_records`,
    `int_identity_decisions`) feed the marts and count as golden marts."""
    kind = unique_id.split(".", 1)[0]
    if kind in ("seed", "operation"):
        return SEEDS
    if kind in ("test", "unit_test"):
        return TESTS
    if kind != "model":
        return OTHER
    name, folders = fqn[-1], fqn[1:-1]
    if name in (SCREEN_MODEL, STITCH_MODEL):
        return STITCHING
    if name.startswith("int_identity_edges"):
        return EDGES
    if folders[:1] == ["staging"] or folders[:2] == ["intermediate", "enrichment"]:
        return STAGING
    if folders[:1] == ["marts"] or folders[:2] in (["intermediate", "customers"], ["intermediate", "identity"]):
        return GOLDEN
    return OTHER


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def read_build_nodes(target_dir: Path) -> list[dict[str, Any]]:
    """Every node of the last dbt invocation: its stage, status, dbt's execution time and when it ran."""
    manifest = json.loads((target_dir / "manifest.json").read_text())
    results = json.loads((target_dir / "run_results.json").read_text())
    known = {**manifest["nodes"], **manifest.get("unit_tests", {})}
    nodes = []
    for result in results["results"]:
        uid = result["unique_id"]
        fqn = known.get(uid, {}).get("fqn") or uid.split(".")
        times = [(_epoch(t["started_at"]), _epoch(t["completed_at"])) for t in result["timing"] if t.get("started_at")]
        nodes.append(
            {
                "id": uid,
                "stage": stage_of(uid, fqn),
                "status": result["status"],
                "execution_time": result["execution_time"] or 0.0,
                "start": min(s for s, _ in times) if times else None,
                "end": max(e for _, e in times) if times else None,
            }
        )
    return nodes


def attribute_wall_time(nodes: list[dict[str, Any]], start: float, end: float) -> dict[str, float]:
    """Split the build's wall time `[start, end]` between the stages, so the parts add up to the whole.

    dbt runs up to `threads` nodes at once, so the nodes' own times overlap. Each instant goes in
    equal parts to the nodes running at that instant; instants with none running are dbt's own."""
    spans = [(max(n["start"], start), min(n["end"], end), n["stage"]) for n in nodes if n["start"] is not None]
    spans = [s for s in spans if s[1] > s[0]]
    shares = dict.fromkeys([*STAGES, OTHER, OVERHEAD], 0.0)
    bounds = sorted({start, end, *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    for a, b in pairwise(bounds):
        running = [stage for s, e, stage in spans if s <= a and e >= b]
        if not running:
            shares[OVERHEAD] += b - a
        for stage in running:
            shares[stage] += (b - a) / len(running)
    return shares


# The measured work: runs inside a child process --------------------------------------------------


def transform_child(root: Path) -> dict[str, Any]:
    """One `dbt build` of the whole project into `root`'s (fresh) warehouse, timed per stage."""
    from tessera.dbt_runner import (
        dbt_artifacts_dir,  # imports dbt: outside the clock
        run_transform,
    )
    from tessera.home import TesseraHome

    home = TesseraHome(root)
    cpu, started, wall_start = cpu_seconds(), time.perf_counter(), time.time()
    run_transform(home)
    seconds, cpu, wall_end = time.perf_counter() - started, cpu_seconds() - cpu, time.time()
    nodes = read_build_nodes(dbt_artifacts_dir(home) / "target")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": peak_memory_mb(),
        "stage_seconds": attribute_wall_time(nodes, wall_start, wall_end),
        "nodes": nodes,
    }


def plain_components(edges) -> tuple[int, int]:
    """Connected components of the identity graph and nothing else: every record and every
    (identifier type, value) is a node, every edge links two; returns (nodes, components).

    A `record` edge links two records, so its value is a record key (as in `stitch`)."""
    import numpy as np
    import pandas as pd
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    # Kept as pandas (Arrow-backed) strings until `factorize`: object arrays would cost twice as much.
    is_record = edges["identifier_type"].eq("record")
    targets = (edges["identifier_type"] + "\x1f" + edges["identifier_value"]).where(
        ~is_record, edges["identifier_value"]
    )
    codes, uniques = pd.factorize(pd.concat([edges["record_key"], targets], ignore_index=True))
    n_edges, n_nodes = len(edges), len(uniques)
    graph = coo_matrix((np.ones(n_edges, dtype=np.int8), (codes[:n_edges], codes[n_edges:])), shape=(n_nodes, n_nodes))
    components, _ = connected_components(graph, directed=False)
    return n_nodes, int(components)


def baseline_child(root: Path) -> dict[str, Any]:
    """On the edges the build produced: plain scipy connected components, then `stitch` with the rules."""
    import duckdb

    from transforms.identity.stitching import rules_from_rows, stitch

    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        started = time.perf_counter()
        # As the stitching model reads them (`dbt.ref(...).df()`): a pandas frame.
        edges = con.sql(f"select * from {EDGES_TABLE}").df()
        read_seconds = time.perf_counter() - started
        rules = rules_from_rows(con.sql("select * from staging.identity_rules").df().to_dict("records"))
        blocklist = con.sql("select * from staging.identity_blocklist").df()
        golden = con.sql("select count(*) from marts.golden_customers").fetchall()[0][0]
    finally:
        con.close()
    # Two rounds, taking turns; the second is reported. A first call in a fresh process is up to twice
    # as slow for both (new memory, caches), and the dbt build's process is not fresh either.
    rounds = []
    for _ in range(2):
        started = time.perf_counter()
        n_nodes, components = plain_components(edges)
        cc_seconds = time.perf_counter() - started
        started = time.perf_counter()
        stitched = stitch(edges, rules, blocklist)
        rounds.append((cc_seconds, time.perf_counter() - started))
    return {
        "edges": len(edges),
        "nodes": n_nodes,
        "components": components,
        "read_seconds": read_seconds,
        "cc_seconds": rounds[-1][0],
        "stitch_seconds": rounds[-1][1],
        "first_round": {"cc_seconds": rounds[0][0], "stitch_seconds": rounds[0][1]},
        "stitched_edges": int(stitched["decision"].eq("stitched").sum()),
        "stitch_customer_keys": int(stitched["customer_key"].nunique()),
        "golden_customers": int(golden),
        "peak_mb": peak_memory_mb(),
    }


def parse_child(root: Path) -> dict[str, Any]:
    """`dbt parse` into the home's artifacts, so every measured build starts from a warm partial parse."""
    from tessera.dbt_runner import run_dbt
    from tessera.home import TesseraHome

    started = time.perf_counter()
    run_dbt(["parse"], TesseraHome(root))
    return {"seconds": time.perf_counter() - started}


CHILDREN = {"parse": parse_child, "transform": transform_child, "baseline": baseline_child}


def child_main(args: argparse.Namespace) -> int:
    """Run one measured piece of work and print its figures as the last line of output."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    figures = CHILDREN[args.child](Path(args.home))
    print(json.dumps(figures))
    return 0


# The run: world, lake, children, figures --------------------------------------------------------


@dataclass(frozen=True)
class Lake:
    root: Path  # a Tessera home: `lake/` and `state/`, and the warehouse the runs build
    setup: str  # "landed" or "reused"
    seconds: float
    streams: dict[str, dict[str, Any]]

    @property
    def rows(self) -> int:
        return sum(s["rows"] for s in self.streams.values())


def prepare_lake(workdir: Path, world: World) -> Lake:
    """Every stream of the world landed by the connectors (a first full load up to the clock),
    kept under the workdir and reused while the world's clock is the same."""
    root = workdir / f"unify-c{world.customers}-s{world.seed}"
    marker = root / "landed.json"
    if marker.exists():
        landed = json.loads(marker.read_text())
        if landed["clock"] == world.clock.isoformat():
            return Lake(root, "reused", 0.0, landed["streams"])
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    started = time.perf_counter()
    streams = land_streams(world, root)
    marker.write_text(json.dumps({"clock": world.clock.isoformat(), "streams": streams}, indent=2) + "\n")
    return Lake(root, "landed", time.perf_counter() - started, streams)


def land_streams(world: World, root: Path, start: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Every stream of every source landed by its connector into the home at `root`, for the window
    [start, world clock): one child process per source, the API servers in this process.
    Returns each stream's rows, quarantined records and seconds, by `source.stream`."""
    streams: dict[str, dict[str, Any]] = {}
    token = secrets.token_hex(16)
    with running_servers(world.sim_dir, token) as urls:
        for i, source in enumerate(CONNECTORS, start=1):
            log.info("  landing %s (%d/%d)…", source, i, len(CONNECTORS))
            figures = run_child("connector", source, world, root, urls, token, start)
            for name, stream in figures["streams"].items():
                streams[f"{source}.{name}"] = stream
                log.info(
                    "  landed %s.%s: %s rows (%s quarantined) in %.1f s",
                    source,
                    name,
                    f"{stream['rows']:,}",
                    f"{stream['quarantined']:,}",
                    stream["seconds"],
                )
    return streams


def warm_lake(root: Path) -> None:
    """Read every landed file once, so no run pays for a cold disk."""
    for path in sorted((root / "lake").rglob("*.parquet")):
        with open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass


def run_measured(kind: str, root: Path, module: str = "benchmarks.transform") -> dict[str, Any]:
    """One child process of `kind` (one of `module`'s children) on the home at `root`; its figures."""
    command = [
        *(sys.executable, "-S", "-c", LAUNCHER),
        *(sys.executable, "-m", module, "--child", kind, "--home", str(root)),
    ]
    proc = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("{"):
        tail = "\n".join((proc.stderr.strip() or proc.stdout.strip()).splitlines()[-25:])
        why = f"exit {proc.returncode}"
        if proc.returncode in (-9, 137):
            why += ", killed (by the kernel's out-of-memory killer, if memory ran out)"
        raise BenchmarkError(f"the {kind} run in {root} failed ({why}); its last output:\n{tail or '(none)'}")
    return json.loads(lines[-1])


def fresh_warehouse(root: Path) -> None:
    """Remove the warehouse and the last run's results, keeping the lake and dbt's partial parse."""
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        (root / name).unlink(missing_ok=True)
    (root / "dbt" / "target" / "run_results.json").unlink(missing_ok=True)


def measure(lake: Lake, repeat: int) -> tuple[list[dict], list[dict]]:
    """Every build and its baseline, taking turns so drift on the machine hits both alike."""
    builds, baselines = [], []
    run_measured("parse", lake.root)
    for attempt in range(1, repeat + 1):
        fresh_warehouse(lake.root)
        build = run_measured("transform", lake.root)
        failed = [n["id"] for n in build["nodes"] if n["status"] not in ("success", "pass", "warn")]
        if failed:
            raise BenchmarkError(f"the build in {lake.root} reported nodes that did not succeed: {failed}")
        builds.append(build)
        log.info(
            "  run %d/%d build    %7.1f s, peak %7.1f MB (stitching %.1f s)",
            attempt,
            repeat,
            build["seconds"],
            build["peak_mb"],
            build["stage_seconds"][STITCHING],
        )
        base = run_measured("baseline", lake.root)
        baselines.append(base)
        log.info(
            "  run %d/%d baseline %s edges: scipy CC %.2f s, stitch %.2f s, peak %.1f MB",
            attempt,
            repeat,
            f"{base['edges']:,}",
            base["cc_seconds"],
            base["stitch_seconds"],
            base["peak_mb"],
        )
    return builds, baselines


def summarise(world: World, lake: Lake, builds: list[dict], baselines: list[dict]) -> dict[str, Any]:
    """One scale's figures: medians over the repeats, per stage and for the baseline."""
    counts = {s: 0 for s in [*STAGES, OTHER]}
    for node in builds[0]["nodes"]:
        counts[node["stage"]] += 1
    seconds = statistics.median(b["seconds"] for b in builds)
    stages = []
    for stage in [*STAGES, OTHER, OVERHEAD]:
        if stage == OTHER and not counts[OTHER]:
            continue
        wall = statistics.median(b["stage_seconds"][stage] for b in builds)
        node_seconds = statistics.median(
            sum(n["execution_time"] for n in b["nodes"] if n["stage"] == stage) for b in builds
        )
        stages.append(
            {
                "stage": stage,
                "nodes": counts.get(stage),
                "seconds": wall,
                "share": wall / seconds,
                "node_seconds": None if stage == OVERHEAD else node_seconds,
            }
        )
    base = baselines[0]
    for key in ("edges", "nodes", "components", "golden_customers"):
        if len({b[key] for b in baselines}) > 1:
            raise BenchmarkError(f"the runs disagree on {key}: {[b[key] for b in baselines]}")
    stitch_seconds, cc_seconds = (
        statistics.median(b["stitch_seconds"] for b in baselines),
        statistics.median(b["cc_seconds"] for b in baselines),
    )
    stitching = next(s for s in stages if s["stage"] == STITCHING)
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
            "streams": lake.streams,
        },
        "seconds": seconds,
        "cpu_seconds": statistics.median(b["cpu_seconds"] for b in builds),
        "peak_mb": statistics.median(b["peak_mb"] for b in builds),
        "stages": stages,
        "stitching_seconds": stitching["seconds"],
        "stitching_share": stitching["share"],
        "edges": base["edges"],
        "nodes": base["nodes"],
        "components": base["components"],
        "golden_customers": base["golden_customers"],
        "stitched_edges": base["stitched_edges"],
        "edges_read_seconds": statistics.median(b["read_seconds"] for b in baselines),
        "stitch_seconds": stitch_seconds,
        "cc_seconds": cc_seconds,
        "stitch_ratio": stitch_seconds / cc_seconds if cc_seconds else None,
        "baseline_peak_mb": statistics.median(b["peak_mb"] for b in baselines),
        "runs": {"build": builds, "baseline": baselines},
    }


def format_table(rows: list[list[str]]) -> str:
    """Rows of cells as aligned text: the first column left, the others right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(rows[0]), line(["-" * w for w in widths]), *(line(r) for r in rows[1:])])


def stage_table(result: dict[str, Any]) -> str:
    rows = [["stage", "nodes", "seconds", "share", "node s"]]
    for s in result["stages"]:
        rows.append(
            [
                s["stage"],
                "" if s["nodes"] is None else str(s["nodes"]),
                f"{s['seconds']:.2f}",
                f"{100 * s['share']:.1f} %",
                "" if s["node_seconds"] is None else f"{s['node_seconds']:.2f}",
            ]
        )
    total_nodes = sum(s["nodes"] or 0 for s in result["stages"])
    rows.append(["total (wall)", str(total_nodes), f"{result['seconds']:.2f}", "100.0 %", ""])
    return format_table(rows)


def summary_line(r: dict[str, Any]) -> str:
    ratio = "n/a" if r["stitch_ratio"] is None else f"{r['stitch_ratio']:.1f}"
    return (
        f"total {r['seconds']:.1f} s, peak {r['peak_mb']:,.0f} MB; stitching node {r['stitching_seconds']:.1f} s"
        f" ({100 * r['stitching_share']:.1f} % of the build). On the same {r['edges']:,} edges"
        f" ({r['nodes']:,} nodes; {r['edges_read_seconds']:.2f} s to read them into pandas):"
        f" stitch {r['stitch_seconds']:.3f} s, scipy CC {r['cc_seconds']:.3f} s,"
        f" stitch ÷ CC {ratio}. {r['golden_customers']:,} golden customers."
    )


def scales_table(results: list[dict[str, Any]]) -> str:
    rows = [
        [
            "customers",
            "lake rows",
            "edges",
            "golden",
            "build s",
            "peak MB",
            "stitching s",
            "share",
            "stitch s",
            "CC s",
            "stitch ÷ CC",
        ]
    ]
    for r in results:
        rows.append(
            [
                f"{r['customers']:,}",
                f"{r['lake']['rows']:,}",
                f"{r['edges']:,}",
                f"{r['golden_customers']:,}",
                f"{r['seconds']:.1f}",
                f"{r['peak_mb']:,.0f}",
                f"{r['stitching_seconds']:.1f}",
                f"{100 * r['stitching_share']:.1f} %",
                f"{r['stitch_seconds']:.2f}",
                f"{r['cc_seconds']:.2f}",
                "n/a" if r["stitch_ratio"] is None else f"{r['stitch_ratio']:.1f}",
            ]
        )
    return format_table(rows)


def run_scale(workdir: Path, customers: int, seed: int, repeat: int) -> dict[str, Any]:
    """World, lake and every measured run at one scale; its summary."""
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
        lake.root / "lake",
        lake.seconds,
    )
    warm_lake(lake.root)
    log.info("measuring: %d × (dbt build into a fresh warehouse, then the connected-components baseline)", repeat)
    builds, baselines = measure(lake, repeat)
    return summarise(world, lake, builds, baselines)


def run_benchmark(args: argparse.Namespace) -> Path:
    """The whole benchmark, scale by scale; returns the path of the JSON results (rewritten after each scale)."""
    workdir = Path(args.workdir).resolve()
    started_at = datetime.now(UTC)
    machine_before = machine()
    out = workdir / "results" / f"transform-{started_at:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    for customers in args.customers:
        load_at_start = machine()["load_average"]
        result = {**run_scale(workdir, customers, args.seed, args.repeat), "load_average_at_start": load_at_start}
        results.append(result)
        report = {
            "benchmark": "transform",
            "started_at": started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "machine": {**machine_before, "load_average_after": machine()["load_average"]},
            "repeat": args.repeat,
            "statistic": "median",
            "results": results,
        }
        out.write_text(json.dumps(report, indent=2) + "\n")

        print(
            f"\nUnify (dbt build) at {customers:,} customers (seed {args.seed}): {result['lake']['rows']:,} landed rows;"
            f" median of {args.repeat} run{'s' if args.repeat > 1 else ''};"
            f" {machine_before['cpus']} CPUs" + (f", load {load_at_start[0]:.2f} at the start" if load_at_start else "")
        )
        print(stage_table(result))
        print(summary_line(result), flush=True)
    if len(results) > 1:
        print()
        print(scales_table(results))
    print(
        "\nseconds: the build's wall time split between the nodes running at each instant;"
        f" node s: dbt's own time per node, summed. Results: {out}"
    )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.transform",
        description="Time the unify step (dbt build) per stage, and identity stitching against plain scipy "
        "connected components on the same edges, in the same run (see benchmarks/README.md).",
    )
    add_scale_options(parser, DEFAULT_SCALES, "builds and baselines per scale, reporting the median")
    hidden = argparse.SUPPRESS
    parser.add_argument("--child", choices=tuple(CHILDREN), help=hidden)
    parser.add_argument("--home", help=hidden)
    args = parser.parse_args(argv)
    resolve_scales(args, DEFAULT_SCALES, default_workdir())
    return args


def main(argv: list[str] | None = None) -> int:
    return run_command(
        parse_args(argv),
        "transform",
        child_main,
        run_benchmark,
        (BenchmarkError, ValueError, OSError),
        ("benchmarks.transform", "benchmarks.extraction"),
    )


if __name__ == "__main__":
    sys.exit(main())
