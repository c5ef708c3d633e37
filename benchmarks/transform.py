"""The unify benchmark: the whole `dbt build` per stage, and stitching against plain connected components.

`python -m benchmarks.transform` builds (or reuses) a simulated world per scale, lands every stream
with the connectors into a lake that later runs reuse, then times `tessera.dbt_runner.run_transform`
(`dbt build` of `dbt_project/`) into a fresh warehouse, with each node's time from dbt's
`run_results.json` grouped into stages. In the same run, a baseline reads the identity edges the
build produced and labels them with scipy's `connected_components` and nothing else, next to
`transforms.identity.stitching.stitch` on the same edges in the same process. The ratio of the two
says what merge protection and customer keys cost over raw connected components, on this machine
today, so figures from a shared, noisy machine stay comparable from run to run.

Every measured run is a child process of its own (`benchmarks/harness/children.py`), so its peak
memory is its own.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness.build_stages import (
    STITCHING,
    failed_nodes,
    stage_medians,
    timed_build,
)
from benchmarks.harness.children import run_child
from benchmarks.harness.command import BenchmarkError
from benchmarks.harness.landing import Lake, prepare_lake, warm_lake
from benchmarks.harness.probes import peak_memory_mb
from benchmarks.harness.scales import ScaleBenchmark
from benchmarks.harness.tables import Column, Table, cell, ratio, ratio_cell, share, share_cell, table_of
from benchmarks.harness.world import World, prepare_world

log = logging.getLogger("benchmarks.transform")

DEFAULT_SCALES = (100_000, 1_000_000)
EDGES_TABLE = "intermediate.int_identity_edges"


# The measured work: runs inside a child process --------------------------------------------------


def transform_child(home: str) -> dict[str, Any]:
    """One `dbt build` of the whole project into the home's (fresh) warehouse, timed per stage."""
    figures, _ = timed_build(Path(home))
    return figures


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


def baseline_child(home: str) -> dict[str, Any]:
    """On the edges the build produced: plain scipy connected components, then `stitch` with the rules."""
    import duckdb

    from transforms.identity.stitching import rules_from_rows, stitch

    con = duckdb.connect(str(Path(home) / "warehouse.duckdb"), read_only=True)
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


def parse_child(home: str) -> dict[str, Any]:
    """`dbt parse` into the home's artifacts, so every measured build starts from a warm partial parse."""
    from tessera.dbt_runner import run_dbt
    from tessera.home import TesseraHome

    started = time.perf_counter()
    run_dbt(["parse"], TesseraHome(Path(home)))
    return {"seconds": time.perf_counter() - started}


def run_measured(kind: str, root: Path) -> dict[str, Any]:
    """One child process of `kind` (parse, transform or baseline) on the home at `root`; its figures."""
    return run_child(f"benchmarks.transform:{kind}_child", f"the {kind} run in {root}", home=str(root))


# The run: world, lake, children, figures --------------------------------------------------------


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
        if failed := failed_nodes(build):
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
    seconds = statistics.median(b["seconds"] for b in builds)
    stages = [
        {"stage": stage, **figures, "share": figures["seconds"] / seconds}
        for stage, figures in stage_medians(builds).items()
    ]
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
        "world": world.summary(),
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
        "stitch_ratio": ratio(stitch_seconds, cc_seconds),
        "baseline_peak_mb": statistics.median(b["peak_mb"] for b in baselines),
        "runs": {"build": builds, "baseline": baselines},
    }


STAGE_COLUMNS: tuple[Column, ...] = (
    ("stage", cell("stage")),
    ("nodes", cell("nodes", missing="")),
    ("seconds", cell("seconds", ".2f")),
    ("share", share("share")),
    ("node s", cell("node_seconds", ".2f", missing="")),
)


def stage_table(result: dict[str, Any]) -> Table:
    """One scale's build, stage by stage, and its total wall time."""
    table = table_of(STAGE_COLUMNS, result["stages"])
    total_nodes = sum(s["nodes"] or 0 for s in result["stages"])
    total = ("total (wall)", str(total_nodes), f"{result['seconds']:.2f}", "100.0 %", "")
    return Table(table.header, (*table.rows, total))


def summary_line(r: dict[str, Any]) -> str:
    return (
        f"total {r['seconds']:.1f} s, peak {r['peak_mb']:,.0f} MB; stitching node {r['stitching_seconds']:.1f} s"
        f" ({share_cell(r['stitching_share'])} of the build). On the same {r['edges']:,} edges"
        f" ({r['nodes']:,} nodes; {r['edges_read_seconds']:.2f} s to read them into pandas):"
        f" stitch {r['stitch_seconds']:.3f} s, scipy CC {r['cc_seconds']:.3f} s,"
        f" stitch ÷ CC {ratio_cell(r['stitch_ratio'], 1)}. {r['golden_customers']:,} golden customers."
    )


SCALE_COLUMNS: tuple[Column, ...] = (
    ("customers", cell("customers", ",")),
    ("lake rows", cell("lake.rows", ",")),
    ("edges", cell("edges", ",")),
    ("golden", cell("golden_customers", ",")),
    ("build s", cell("seconds", ".1f")),
    ("peak MB", cell("peak_mb", ",.0f")),
    ("stitching s", cell("stitching_seconds", ".1f")),
    ("share", share("stitching_share")),
    ("stitch s", cell("stitch_seconds", ".2f")),
    ("CC s", cell("cc_seconds", ".2f")),
    ("stitch ÷ CC", cell("stitch_ratio", ".1f")),
)


def readme_tables(report: dict[str, Any]) -> dict[str, Table]:
    """A stage table per scale (`stages-<customers>`) and the table across the scales (`scales`)."""
    tables = {f"stages-{r['customers']}": stage_table(r) for r in report["results"]}
    return {**tables, "scales": table_of(SCALE_COLUMNS, report["results"])}


def run_scale(workdir: Path, customers: int, seed: int, repeat: int) -> dict[str, Any]:
    """World, lake and every measured run at one scale; its summary."""
    world = prepare_world(workdir, customers, seed)
    lake = prepare_lake(workdir, world)
    warm_lake(lake.root)
    log.info("measuring: %d × (dbt build into a fresh warehouse, then the connected-components baseline)", repeat)
    builds, baselines = measure(lake, repeat)
    return summarise(world, lake, builds, baselines)


def heading(result: dict[str, Any]) -> str:
    return (
        f"Unify (dbt build) at {result['customers']:,} customers (seed {result['seed']}):"
        f" {result['lake']['rows']:,} landed rows"
    )


BENCHMARK = ScaleBenchmark(
    name="transform",
    description="Time the unify step (dbt build) per stage, and identity stitching against plain scipy "
    "connected components on the same edges, in the same run (see benchmarks/README.md).",
    default_scales=DEFAULT_SCALES,
    repeat_help="builds and baselines per scale, reporting the median",
    run_scale=run_scale,
    heading=heading,
    table="stages",
    summary=summary_line,
    readme_tables=readme_tables,
    footnote="seconds: the build's wall time split between the nodes running at each instant;"
    " node s: dbt's own time per node, summed.",
)


def main(argv: list[str] | None = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    sys.exit(main())
