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

import json
import logging
import math
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable
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
from benchmarks.harness.probes import cpu_seconds, peak_memory_mb
from benchmarks.harness.scales import ScaleBenchmark
from benchmarks.harness.tables import (
    Column,
    Table,
    cell,
    ratio,
    ratio_cell,
    share,
    share_cell,
    table_of,
    text_table,
)
from benchmarks.harness.world import DEFAULT_WORLD, World, main_on_a_world, prepare_world

log = logging.getLogger("benchmarks.transform")

DEFAULT_SCALES = (100_000, 1_000_000)
EDGES_TABLE = "intermediate.int_identity_edges"
#: What the stitching model reads: the edges after the blocklist and shared values.
SCREENED_TABLE = "intermediate.int_identity_edge_screening"
#: A throwaway DuckDB file in the home where the stitching node's measured copy stores its result.
NODE_WAREHOUSE = "stitching-node.duckdb"


# The measured work: runs inside a child process --------------------------------------------------


MATCHING_MODEL = "model.tessera.int_identity_edges__probabilistic"
#: Where a build keeps the matcher it fitted to the home's records (`fitted_matcher_dir`, `$TESSERA_HOME/matcher`).
FITTED_MATCHER_DIR = "matcher"


def record_matching_scores(scored: list[dict[str, str]]) -> None:
    """Keep the schema metadata of every result of `transforms.identity.matching.score` in `scored`.

    The probabilistic model imports `score` from the package when it runs, in the build's own process,
    so wrapping the package's attribute sees the pairs it compared and its blocking plan."""
    import transforms.identity.matching as matching

    original = matching.score

    def recorded_score(*args: Any, **kwargs: Any):
        pairs = original(*args, **kwargs)
        scored.append({k.decode(): v.decode() for k, v in (pairs.schema.metadata or {}).items()})
        return pairs

    matching.score = recorded_score


def matching_figures(scored: list[dict[str, str]], nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the build's matching compared: pairs, the records scored, pairs per record, the blocking plan,
    the node's own seconds and their split by step; None where the build scored nothing (matching is off)."""
    from transforms.identity.matching import BLOCKING_PLAN, PAIRS_COMPARED, STEP_SECONDS

    if not scored:
        return None
    [metadata] = scored
    plan = json.loads(metadata[BLOCKING_PLAN]) if BLOCKING_PLAN in metadata else None
    pairs = int(metadata[PAIRS_COMPARED])
    records = plan["records"] if plan else None
    return {
        "pairs_compared": pairs,
        "records": records,
        "pairs_per_record": ratio(pairs, records),
        "node_seconds": next((n["execution_time"] for n in nodes if n["id"] == MATCHING_MODEL), None),
        "blocking_plan": plan,
        "step_seconds": json.loads(metadata[STEP_SECONDS]) if STEP_SECONDS in metadata else None,
    }


def transform_child(home: str) -> dict[str, Any]:
    """One `dbt build` of the whole project into the home's (fresh) warehouse, timed per stage, with what
    its matching compared."""
    scored: list[dict[str, str]] = []
    record_matching_scores(scored)
    figures, _ = timed_build(Path(home))
    return {**figures, "matching": matching_figures(scored, figures["nodes"])}


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


def components_with_input(con, screened: str) -> tuple[float, int]:
    """Plain connected components including their input: the three columns they need read from the
    warehouse (as Arrow, the quickest way out of DuckDB, kept as Arrow-backed pandas strings), then
    `plain_components`. Its seconds and the components."""
    started = time.perf_counter()
    edges = con.sql(f"select record_key, identifier_type, identifier_value from {screened}").to_arrow_table()
    _, components = plain_components(edges.to_pandas())
    return time.perf_counter() - started, components


def stitching_node(con, screened: str) -> dict[str, Any]:
    """The stitching model's work in a full build (`int_identity_resolution`), input and output included:
    the rules and the screened edges read and `stitch_all` (the edges' decisions worked out in Python), then
    the relation it returns stored the way dbt-duckdb stores a Python model's result (`create table ... as
    select`, which joins the decisions back onto the screened edges), timed apart."""
    from datetime import UTC, datetime

    from transforms.identity.incremental_stitching import stitch_all
    from transforms.identity.stitching import rules_from_rows

    con.execute("drop table if exists int_identity_resolution")
    started = time.perf_counter()
    rules = rules_from_rows(con.sql("select * from warehouse.staging.identity_rules").to_arrow_table().to_pylist())
    stitched = stitch_all(con, screened, rules, datetime.now(UTC))
    decided = time.perf_counter()
    stitched.create("int_identity_resolution")
    finished = time.perf_counter()
    edges = con.execute("select count(*) from int_identity_resolution").fetchall()[0][0]
    return {"seconds": decided - started, "store_seconds": finished - decided, "edges": edges}


def node_against_components(home: Path) -> dict[str, Any]:
    """The stitching node against plain connected components, each with its input read from the build's
    warehouse (attached read-only to a throwaway DuckDB file that takes the node's output). Two rounds,
    taking turns; the second is reported, as for `stitch` against CC."""
    import duckdb

    scratch = home / NODE_WAREHOUSE
    for path in (scratch, scratch.with_name(scratch.name + ".wal")):
        path.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch))
    try:
        con.execute(f"attach '{home / 'warehouse.duckdb'}' as warehouse (read_only)")
        screened = f"warehouse.{SCREENED_TABLE}"
        rounds = []
        for _ in range(2):
            cc_seconds, components = components_with_input(con, screened)
            rounds.append((cc_seconds, stitching_node(con, screened)))
    finally:
        con.close()
        for path in (scratch, scratch.with_name(scratch.name + ".wal")):
            path.unlink(missing_ok=True)
    cc_seconds, node = rounds[-1]
    return {
        "node_seconds": node["seconds"],
        "node_store_seconds": node["store_seconds"],
        "node_edges": node["edges"],
        "cc_input_seconds": cc_seconds,
        "cc_input_components": components,
        "node_first_round": {**rounds[0][1], "cc_input_seconds": rounds[0][0]},
    }


def baseline_child(home: str) -> dict[str, Any]:
    """On the edges the build produced: plain scipy connected components, then `stitch` with the rules;
    and the stitching node's whole work against plain connected components with their input."""
    import duckdb

    from transforms.identity.stitching import rules_from_rows, stitch

    con = duckdb.connect(str(Path(home) / "warehouse.duckdb"), read_only=True)
    try:
        started = time.perf_counter()
        # A pandas frame, as the stitching model read them before it read Arrow: figures compare across runs.
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
        **node_against_components(Path(home)),
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
    """One child process of `kind` (parse, transform, baseline or reference) on the home at `root`; its figures."""
    return run_child(f"benchmarks.transform:{kind}_child", f"the {kind} run in {root}", home=str(root))


# The minimal reference: the least a hand-written DuckDB + scipy stitcher does with the same lake -----

REFERENCE_WAREHOUSE = "reference.duckdb"
#: Landed columns the reference normalises, by what they hold; every other business column is copied as is.
FOLDED_COLUMNS = ("first_name", "last_name", "email", "receipt_email", "street", "city", "postcode")
PHONE_COLUMNS = ("phone",)
DATE_COLUMNS = ("birth_date",)
#: The birth-date formats the sources type (the landing contract's `birth_date` description).
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d %b %Y")
#: Per stream: the column that names a record, and its deterministic identifiers (type: column), as the
#: build's `int_identity_edges__*` models take them. A web record is the visitor (its anonymous id).
REFERENCE_IDENTIFIERS: dict[str, tuple[str, dict[str, str]]] = {
    "crm.contacts": ("contact_id", {"crm_contact_id": "contact_id", "email": "email", "phone": "phone"}),
    "email.subscribers": ("subscriber_id", {"esp_subscriber_id": "subscriber_id", "email": "email"}),
    "pos.loyalty_members": ("loyalty_id", {"loyalty_id": "loyalty_id", "email": "email", "phone": "phone"}),
    "pos.transactions": (
        "transaction_id",
        {"loyalty_id": "loyalty_id", "payment_token": "payment_token", "email": "receipt_email", "phone": "phone"},
    ),
    "web.events": ("anonymous_id", {"crm_contact_id": "user_id", "email": "email"}),
}


def normalised_column(name: str) -> str:
    """The SQL of one landed column as the reference keeps it: names and emails lower-cased and trimmed,
    phones as `+` and digits, birth dates parsed; anything else as landed."""
    if name in FOLDED_COLUMNS:
        return f"nullif(lower(trim({name})), '') as {name}"
    if name in PHONE_COLUMNS:
        return f"nullif(regexp_replace(regexp_replace(trim({name}), '^00', '+'), '[^0-9+]', '', 'g'), '') as {name}"
    if name in DATE_COLUMNS:
        formats = ", ".join(f"'{f}'" for f in DATE_FORMATS)
        return f"cast(try_strptime({name}, [{formats}]) as date) as {name}"
    return name


def reference_table(contract) -> str:
    """The reference's table for one landed stream (`crm__contacts`)."""
    return f"{contract.source}__{contract.stream}"


def normalise_lake(con, lake: Path) -> int:
    """Every registered stream's landed Parquet into a table of its own, normalised; the rows written."""
    from connectors.registry import registry

    rows = 0
    for contract in registry().streams:
        files = lake / "raw" / contract.lake_path / "batch_id=*" / "*.parquet"
        columns = ", ".join(normalised_column(c.name) for c in contract.columns)
        con.execute(
            f"create table {reference_table(contract)} as select {columns}"
            f" from read_parquet('{files}', union_by_name = true)"
        )
        rows += con.sql(f"select count(*) from {reference_table(contract)}").fetchall()[0][0]
    return rows


def identity_graph_sql() -> str:
    """One row per (record, identifier) of the deterministic identifiers: the graph's edges, as text nodes."""
    from connectors.registry import registry

    selects = []
    for contract in registry().streams:
        if contract.name not in REFERENCE_IDENTIFIERS:
            continue
        key, identifiers = REFERENCE_IDENTIFIERS[contract.name]
        for kind, column in identifiers.items():
            selects.append(
                f"select '{contract.name}|' || {key} as record, '{kind}|' || {column} as identifier"
                f" from {reference_table(contract)} where {key} is not null and {column} is not null"
            )
    return "\nunion all\n".join(selects)


def label_components(con) -> dict[str, int]:
    """Connected components of the identity graph with scipy, written back as `identity_components`
    (record, component); the graph's size."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    con.execute(f"create table identity_edges as {identity_graph_sql()}")
    con.execute(
        "create table identity_nodes as select node, cast(row_number() over () - 1 as integer) as id"
        " from (select record as node from identity_edges union select identifier from identity_edges)"
    )
    pairs = con.sql(
        "select r.id as a, i.id as b from identity_edges as e"
        " join identity_nodes as r on r.node = e.record join identity_nodes as i on i.node = e.identifier"
    ).fetchnumpy()
    n_nodes = con.sql("select count(*) from identity_nodes").fetchall()[0][0]
    graph = coo_matrix((np.ones(len(pairs["a"]), dtype=np.int8), (pairs["a"], pairs["b"])), shape=(n_nodes, n_nodes))
    components, labels = connected_components(graph, directed=False)
    con.register("labels", {"id": np.arange(n_nodes, dtype=np.int32), "component": labels})
    con.execute(
        "create table identity_components as select n.node as record, l.component from identity_nodes as n"
        " join labels as l using (id) where n.node in (select record from identity_edges)"
    )
    con.unregister("labels")
    return {"edges": len(pairs["a"]), "nodes": int(n_nodes), "components": int(components)}


def reference_child(home: str) -> dict[str, Any]:
    """The minimal reference on the home's lake, into a fresh `reference.duckdb`: normalise every stream,
    then label the deterministic identity graph with scipy; timed step by step (imports outside the clock)."""
    import duckdb
    import scipy.sparse.csgraph  # noqa: F401  (imports stay outside the clock)

    root = Path(home)
    for name in (REFERENCE_WAREHOUSE, f"{REFERENCE_WAREHOUSE}.wal"):
        (root / name).unlink(missing_ok=True)
    cpu, started = cpu_seconds(), time.perf_counter()
    con = duckdb.connect(str(root / REFERENCE_WAREHOUSE))
    try:
        rows = normalise_lake(con, root / "lake")
        normalised = time.perf_counter()
        graph = label_components(con)
        stitched = time.perf_counter()
        records = con.sql("select count(*) from identity_components").fetchall()[0][0]
    finally:
        con.close()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds() - cpu,
        "normalise_seconds": normalised - started,
        "components_seconds": stitched - normalised,
        "rows": rows,
        "records": int(records),
        **graph,
        "peak_mb": peak_memory_mb(),
    }


# The run: world, lake, children, figures --------------------------------------------------------


def fresh_warehouse(root: Path) -> None:
    """Remove the warehouse, the matcher fitted by the last build and the last run's results, keeping the
    lake and dbt's partial parse: every build is the home's first, fitting the matcher as a first build does."""
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        (root / name).unlink(missing_ok=True)
    shutil.rmtree(root / FITTED_MATCHER_DIR, ignore_errors=True)
    (root / "dbt" / "target" / "run_results.json").unlink(missing_ok=True)


def measure(lake: Lake, repeat: int) -> tuple[list[dict], list[dict], list[dict]]:
    """Every build, its baseline and the minimal reference, taking turns so drift on the machine hits all alike."""
    builds, baselines, references = [], [], []
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
        references.append(measure_reference(lake, attempt, repeat))
    return builds, baselines, references


def measure_reference(lake: Lake, attempt: int, repeat: int) -> dict[str, Any]:
    """One run of the minimal reference on the lake, logged."""
    reference = run_measured("reference", lake.root)
    log.info(
        "  run %d/%d reference %7.1f s (normalise %.1f s, components %.1f s), peak %.1f MB",
        attempt,
        repeat,
        reference["seconds"],
        reference["normalise_seconds"],
        reference["components_seconds"],
        reference["peak_mb"],
    )
    return reference


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
        **node_summary(baselines),
        "baseline_peak_mb": statistics.median(b["peak_mb"] for b in baselines),
        "runs": {"build": builds, "baseline": baselines},
    }


def node_summary(baselines: list[dict]) -> dict[str, Any]:
    """The stitching node (input and output included; storing its result apart) against plain CC with its
    input: medians and ratios."""
    node_seconds = statistics.median(b["node_seconds"] for b in baselines)
    store_seconds = statistics.median(b["node_store_seconds"] for b in baselines)
    cc_input_seconds = statistics.median(b["cc_input_seconds"] for b in baselines)
    return {
        "node_seconds": node_seconds,
        "node_store_seconds": store_seconds,
        "cc_input_seconds": cc_input_seconds,
        "node_ratio": ratio(node_seconds, cc_input_seconds),
        "node_stored_ratio": ratio(node_seconds + store_seconds, cc_input_seconds),
    }


STAGE_COLUMNS: tuple[Column, ...] = (
    ("stage", cell("stage")),
    ("nodes", cell("nodes", missing="")),
    ("seconds", cell("seconds", ".2f")),
    ("share", share("share")),
    ("node s", cell("node_seconds", ".2f", missing="")),
)


def reference_summary(builds: list[dict], references: list[dict]) -> dict[str, Any]:
    """The minimal reference's medians, the build ÷ reference ratio, and what the build's matching compared."""
    for key in ("rows", "records", "edges", "nodes", "components"):
        if len({r[key] for r in references}) > 1:
            raise BenchmarkError(f"the reference runs disagree on {key}: {[r[key] for r in references]}")
    medians = {
        key: statistics.median(r[key] for r in references)
        for key in ("seconds", "cpu_seconds", "normalise_seconds", "components_seconds", "peak_mb")
    }
    counts = {key: references[0][key] for key in ("rows", "records", "edges", "nodes", "components")}
    matching = builds[0]["matching"]
    if matching is not None:
        matching = {**matching, "node_seconds": statistics.median(b["matching"]["node_seconds"] for b in builds)}
    build_seconds = statistics.median(b["seconds"] for b in builds)
    return {
        "reference": {**medians, **counts, "runs": references},
        "build_reference_ratio": ratio(build_seconds, medians["seconds"]),
        "matching": matching,
    }


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
        f" stitch ÷ CC {ratio_cell(r['stitch_ratio'], 1)}. The stitching node's work from the screened edges in the"
        f" warehouse to the Arrow table it returns {r['node_seconds']:.3f} s, against scipy CC with its input"
        f" {r['cc_input_seconds']:.3f} s: node ÷ CC {ratio_cell(r['node_ratio'], 1)}; storing the result"
        f" {r['node_store_seconds']:.3f} s more, node and store ÷ CC {ratio_cell(r['node_stored_ratio'], 1)}."
        f" {r['golden_customers']:,} golden customers."
    )


def recorded_cell(key: str, spec: str) -> Callable[[dict[str, Any]], str]:
    """A column of a figure that runs recorded before it existed lack: `n/a` there."""
    return lambda r: "n/a" if r.get(key) is None else format(r[key], spec)


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
    ("node s", recorded_cell("node_seconds", ".2f")),
    ("node ÷ CC", recorded_cell("node_ratio", ".1f")),
    ("node + store ÷ CC", recorded_cell("node_stored_ratio", ".1f")),
)


def readme_tables(report: dict[str, Any]) -> dict[str, Table]:
    """A stage table per scale (`stages-<customers>`) and the table across the scales (`scales`); where the
    results have them (runs since the minimal reference), the reference across the scales (`reference`) and
    the blocking plan per scale (`blocking-<customers>`)."""
    results = report["results"]
    tables = {f"stages-{r['customers']}": stage_table(r) for r in results}
    blocking = {f"blocking-{r['customers']}": blocking_table(r) for r in results if blocking_plan(r)}
    referenced = [r for r in results if "reference" in r]
    reference = {"reference": table_of(REFERENCE_COLUMNS, referenced)} if referenced else {}
    return {**tables, "scales": table_of(SCALE_COLUMNS, results), **reference, **blocking}


# The build against the minimal reference, and the cost exponents, on each world ----------------------


def matching_cell(key: str, spec: str) -> Callable[[dict[str, Any]], str]:
    """How a column writes a figure of the build's matching, `n/a` where the build scored nothing."""
    return lambda r: "n/a" if r["matching"] is None or r["matching"][key] is None else format(r["matching"][key], spec)


REFERENCE_COLUMNS: tuple[Column, ...] = (
    ("customers", cell("customers", ",")),
    ("lake rows", cell("lake.rows", ",")),
    ("build s", cell("seconds", ".1f")),
    ("reference s", cell("reference.seconds", ".1f")),
    ("build ÷ reference", cell("build_reference_ratio", ".1f")),
    ("peak MB", cell("peak_mb", ",.0f")),
    ("reference MB", cell("reference.peak_mb", ",.0f")),
    ("matching s", matching_cell("node_seconds", ".1f")),
    ("profile records", matching_cell("records", ",")),
    ("pairs compared", matching_cell("pairs_compared", ",")),
    ("pairs / record", matching_cell("pairs_per_record", ".1f")),
    ("golden", cell("golden_customers", ",")),
)


def blocking_plan(result: dict[str, Any]) -> dict[str, Any] | None:
    matching = result.get("matching")
    return matching and matching["blocking_plan"]


def rule_text(rule: str | None) -> str:
    """A blocking rule without Splink's `l.`/`r.` sides where both compare the same: `last_name and
    left(first_name, 2)`."""
    if rule is None:
        return ""
    rule = re.sub(r"(\w+)\(l\.(\w+)((?:, \d+)?)\) = \1\(r\.\2\3\)", r"\1(\2\3)", rule)
    return re.sub(r"\bl\.(\w+) = r\.\1\b", r"\1", rule)


def blocking_table(result: dict[str, Any]) -> Table:
    """Each blocking rule at one scale: the pairs it would compare, and what the budget did with it."""
    plan = blocking_plan(result)
    records = plan["records"]
    rows = tuple(
        (
            rule_text(d["rule"]),
            d["action"],
            f"{d['comparisons']:,}",
            f"{d['comparisons'] / records:.1f}",
            f"{d['scored_comparisons']:,}",
            f"{d['scored_comparisons'] / records:.1f}",
            rule_text(d["scored_rule"]) if d["action"] == "tightened" else "",
        )
        for d in plan["rules"]
    )
    header = ("rule", "action", "pairs", "per record", "scored pairs", "per record", "scored as")
    scored = plan["comparisons"]
    total = ("all scored rules (at most)", "", "", "", f"{scored:,}", f"{scored / records:.1f}", "")
    return Table(header, (*rows, total))


def reference_line(r: dict[str, Any]) -> str:
    """The scale's build against the minimal reference, and what matching compared."""
    ref = r["reference"]
    line = (
        f"Minimal reference (DuckDB normalisation + scipy CC on {ref['edges']:,} deterministic edges):"
        f" {ref['seconds']:.1f} s (normalise {ref['normalise_seconds']:.1f} s, components"
        f" {ref['components_seconds']:.1f} s), peak {ref['peak_mb']:,.0f} MB;"
        f" build ÷ reference {ratio_cell(r['build_reference_ratio'], 1)}."
    )
    matching = r["matching"]
    if matching is None:
        return line + " The build scored no pairs (matching is off)."
    return line + (
        f" Matching compared {matching['pairs_compared']:,} pairs of {matching['records']:,} profile records"
        f" ({ratio_cell(matching['pairs_per_record'], 1)} per record) in {matching['node_seconds']:.1f} s."
    )


def summary(r: dict[str, Any]) -> str:
    """What the run prints under a scale's stage table: the summary lines, then the blocking plan."""
    plan = f"\nBlocking plan of the build's matching:\n{text_table(blocking_table(r))}" if blocking_plan(r) else ""
    return f"{summary_line(r)}\n{reference_line(r)}{plan}"


def exponent(small: float | None, large: float | None, rows_small: int, rows_large: int) -> float | None:
    """How cost grows with the records: `log(large ÷ small) ÷ log(rows_large ÷ rows_small)`; 1 is linear."""
    if not small or not large or rows_large == rows_small:
        return None
    return math.log(large / small) / math.log(rows_large / rows_small)


def cost_rows(result: dict[str, Any]) -> dict[str, float | None]:
    """A scale's costs by row label: each stage's seconds, the whole build, the reference, the build's peak memory."""
    stages = {s["stage"]: s["seconds"] for s in result["stages"]}
    return {
        **stages,
        "build (wall)": result["seconds"],
        "minimal reference": result["reference"]["seconds"],
        "build peak memory (MB)": result["peak_mb"],
    }


def exponents_table(reports: dict[str, dict[str, Any]]) -> Table:
    """Per stage and world: the cost at the two largest scales recorded and its exponent in the landed rows."""
    pairs = {}
    for shape, report in reports.items():
        results = sorted((r for r in report["results"] if "reference" in r), key=lambda r: r["customers"])
        if len(results) >= 2:
            pairs[shape] = (results[-2], results[-1])
    labels = list(dict.fromkeys(label for results in pairs.values() for r in results for label in cost_rows(r)))
    header: tuple[str, ...] = ("cost",)
    lake_row: tuple[str, ...] = ("lake rows",)
    rows = {label: (label,) for label in labels}
    for shape, (small, large) in pairs.items():
        header += (f"{shape} {small['customers']:,}", f"{shape} {large['customers']:,}", f"{shape} exponent")
        lake_row += (f"{small['lake']['rows']:,}", f"{large['lake']['rows']:,}", "")
        costs = cost_rows(small), cost_rows(large)
        for label in labels:
            a, b = costs[0].get(label), costs[1].get(label)
            rows[label] += (
                "n/a" if a is None else f"{a:,.1f}",
                "n/a" if b is None else f"{b:,.1f}",
                ratio_cell(exponent(a, b, small["lake"]["rows"], large["lake"]["rows"])),
            )
    return Table(header, (lake_row, *rows.values()))


def world_tables(reports: dict[str, dict[str, Any]]) -> dict[str, Table]:
    """The worlds side by side (`reports` by world shape): the build against the minimal reference at every
    scale (`reference`), and the cost exponents from the two largest scales of each (`exponents`)."""
    rows = [{**r, "shape": shape} for shape, report in reports.items() for r in report["results"] if "reference" in r]
    return {
        "reference": table_of((("world", cell("shape")), *REFERENCE_COLUMNS), rows),
        "exponents": exponents_table(reports),
    }


def run_scale(workdir: Path, customers: int, seed: int, repeat: int, shape: str = DEFAULT_WORLD) -> dict[str, Any]:
    """World (of `shape`), lake and every measured run at one scale; its summary."""
    world = prepare_world(workdir, customers, seed, shape)
    lake = prepare_lake(world.workdir, world)
    warm_lake(lake.root)
    log.info(
        "measuring: %d × (dbt build into a fresh warehouse, the connected-components baseline, the minimal reference)",
        repeat,
    )
    builds, baselines, references = measure(lake, repeat)
    return {**summarise(world, lake, builds, baselines), **reference_summary(builds, references)}


def heading(result: dict[str, Any]) -> str:
    return (
        f"Unify (dbt build) on the {result['world']['shape']} world at {result['customers']:,} customers"
        f" (seed {result['seed']}):"
        f" {result['lake']['rows']:,} landed rows"
    )


BENCHMARK = ScaleBenchmark(
    name="transform",
    description="Time the unify step (dbt build) per stage, and identity stitching against plain scipy "
    "connected components on the same edges, in the same run (see benchmarks/README.md).",
    default_scales=DEFAULT_SCALES,
    repeat_help="builds, baselines and references per scale, reporting the median",
    run_scale=run_scale,
    heading=heading,
    table="stages",
    summary=summary,
    readme_tables=readme_tables,
    footnote="seconds: the build's wall time split between the nodes running at each instant;"
    " node s: dbt's own time per node, summed.",
)


def main(argv: list[str] | None = None) -> int:
    return main_on_a_world(BENCHMARK, argv)


if __name__ == "__main__":
    sys.exit(main())
