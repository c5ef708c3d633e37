"""A timed `dbt build` of the project, its wall time split into stages from dbt's own run results."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from benchmarks.harness.probes import cpu_seconds, peak_memory_mb

SEEDS, STAGING, EDGES, STITCHING, GOLDEN, TESTS = (
    "seeds + hooks",
    "staging",
    "identity edges",
    "stitching",
    "golden marts",
    "tests",
)
#: The stages of the build, in the order the tables list them.
STAGES = (SEEDS, STAGING, EDGES, STITCHING, GOLDEN, TESTS)
#: A node no rule below places (a model in a new folder); listed so its time is not lost.
OTHER = "other"
#: Wall time during which no node ran: dbt's start-up, (partial) parsing, graph and artifacts.
OVERHEAD = "dbt overhead"
STITCH_MODEL = "int_identity_resolution"
#: Screening (blocklist, shared values) was part of the stitching model once; it stays in that stage.
SCREEN_MODEL = "int_identity_edge_screening"
SUCCEEDED = ("success", "pass", "warn")

ENRICHMENT, MATCHING, CUSTOMERS, MARTS, SEGMENTS, PREDICTIONS = (
    "enrichment",
    "matching",
    "customers",
    "marts",
    "segments",
    "predictions",
)
#: The finer stages of `detailed_stage_of`, in the order the tables list them: what an engine comparison
#: needs to tell apart (matching from the deterministic edges, predictions from the marts they feed).
DETAILED_STAGES = (
    SEEDS,
    STAGING,
    ENRICHMENT,
    EDGES,
    MATCHING,
    STITCHING,
    CUSTOMERS,
    MARTS,
    SEGMENTS,
    PREDICTIONS,
    TESTS,
)
#: Probabilistic matching: the profile records it compares, and the model that fits, blocks and scores them.
MATCHING_MODELS = ("int_profile_records", "int_identity_edges__probabilistic")
#: The purchase models: their feature tables, and the Python models that train, score and backtest them.
PREDICTION_MODELS = (
    "int_customer_purchase_features",
    "int_customer_feature_history",
    "customer_predictions",
    "model_backtests",
)


def stage_of(unique_id: str, fqn: list[str]) -> str:
    """The stage of one node of the build, from its kind and the model's folder (`fqn`).

    Models of `intermediate/identity` downstream of stitching (`int_customer_records`,
    `int_identity_decisions`) feed the marts and count as golden marts; so do the segments built on them and
    the analysts' masked views of both."""
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
    if folders[:1] in (["marts"], ["segments"], ["analyst"]) or folders[:2] in (
        ["intermediate", "customers"],
        ["intermediate", "identity"],
    ):
        return GOLDEN
    return OTHER


def detailed_stage_of(unique_id: str, fqn: list[str]) -> str:
    """The stage of one node in `DETAILED_STAGES`: `stage_of`'s, with enrichment apart from staging, matching
    apart from the deterministic edges, the predictions apart from the customers and marts, and golden marts split
    into customers (`intermediate/customers`, identity downstream of stitching), marts (with the analysts' masked
    views of them) and segments."""
    stage = stage_of(unique_id, fqn)
    if unique_id.split(".", 1)[0] != "model" or stage not in (STAGING, EDGES, GOLDEN):
        return stage
    name, folders = fqn[-1], fqn[1:-1]
    if name in MATCHING_MODELS:
        return MATCHING
    if name in PREDICTION_MODELS:
        return PREDICTIONS
    if folders[:2] == ["intermediate", "enrichment"]:
        return ENRICHMENT
    if stage != GOLDEN:
        return stage
    if folders[:1] == ["segments"]:
        return SEGMENTS
    if folders[:1] in (["marts"], ["analyst"]):
        return MARTS
    return CUSTOMERS


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def read_build_nodes(target_dir: Path, classify: Callable[[str, list[str]], str] = stage_of) -> list[dict[str, Any]]:
    """Every node the last dbt invocation ran: its stage (by `classify`), status, dbt's execution time and when it
    ran. Exposures (who consumes a segment) are listed by dbt but never run, so they are left out."""
    manifest = json.loads((target_dir / "manifest.json").read_text())
    results = json.loads((target_dir / "run_results.json").read_text())
    known = {**manifest["nodes"], **manifest.get("unit_tests", {})}
    nodes = []
    for result in results["results"]:
        uid = result["unique_id"]
        if uid.startswith("exposure."):
            continue
        fqn = known.get(uid, {}).get("fqn") or uid.split(".")
        times = [(_epoch(t["started_at"]), _epoch(t["completed_at"])) for t in result["timing"] if t.get("started_at")]
        nodes.append(
            {
                "id": uid,
                "stage": classify(uid, fqn),
                "status": result["status"],
                "execution_time": result["execution_time"] or 0.0,
                "start": min(s for s, _ in times) if times else None,
                "end": max(e for _, e in times) if times else None,
            }
        )
    return nodes


def attribute_wall_time(
    nodes: list[dict[str, Any]], start: float, end: float, stages: tuple[str, ...] = STAGES
) -> dict[str, float]:
    """Split the build's wall time `[start, end]` between the stages, so the parts add up to the whole.

    dbt runs up to `threads` nodes at once, so the nodes' own times overlap. Each instant goes in
    equal parts to the nodes running at that instant; instants with none running are dbt's own."""
    spans = [(max(n["start"], start), min(n["end"], end), n["stage"]) for n in nodes if n["start"] is not None]
    spans = [s for s in spans if s[1] > s[0]]
    shares = dict.fromkeys([*stages, OTHER, OVERHEAD], 0.0)
    bounds = sorted({start, end, *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    for a, b in pairwise(bounds):
        running = [stage for s, e, stage in spans if s <= a and e >= b]
        if not running:
            shares[OVERHEAD] += b - a
        for stage in running:
            shares[stage] += (b - a) / len(running)
    return shares


def build_target(root: Path) -> Path:
    """Where dbt leaves the manifest and run results of a build of the home at `root`."""
    from tessera.dbt_runner import dbt_artifacts_dir
    from tessera.home import TesseraHome

    return dbt_artifacts_dir(TesseraHome(root)) / "target"


def timed_build(root: Path, *, full_refresh: bool = False) -> tuple[dict[str, Any], float]:
    """One `dbt build` of the whole project into the home at `root`, timed per stage (dbt's import is
    outside the clock); its figures, and when it started (epoch seconds)."""
    import dbt.cli.main  # noqa: F401  (dbt's import, a few seconds, stays outside the clock)

    from tessera.dbt_runner import run_transform
    from tessera.home import TesseraHome

    cpu, started, wall_start = cpu_seconds(), time.perf_counter(), time.time()
    run_transform(TesseraHome(root), full_refresh=full_refresh)
    seconds, cpu, wall_end = time.perf_counter() - started, cpu_seconds() - cpu, time.time()
    nodes = read_build_nodes(build_target(root))
    figures = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": peak_memory_mb(),
        "stage_seconds": attribute_wall_time(nodes, wall_start, wall_end),
        "nodes": nodes,
    }
    return figures, wall_start


def failed_nodes(build: dict[str, Any]) -> list[str]:
    return [n["id"] for n in build["nodes"] if n["status"] not in SUCCEEDED]


def stage_medians(builds: list[dict[str, Any]], names: tuple[str, ...] = STAGES) -> dict[str, dict[str, Any]]:
    """Each stage's node count and its medians over the builds: wall seconds and dbt's own node seconds.
    `other` is left out when no node falls in it; `dbt overhead` has no nodes."""
    counts = dict.fromkeys([*names, OTHER], 0)
    for node in builds[0]["nodes"]:
        counts[node["stage"]] += 1
    stages = {}
    for stage in [*names, OTHER, OVERHEAD]:
        if stage == OTHER and not counts[OTHER]:
            continue
        stages[stage] = {
            "nodes": counts.get(stage),
            "seconds": statistics.median(b["stage_seconds"][stage] for b in builds),
            "node_seconds": None
            if stage == OVERHEAD
            else statistics.median(sum(n["execution_time"] for n in b["nodes"] if n["stage"] == stage) for b in builds),
        }
    return stages
