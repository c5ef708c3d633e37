"""The engines benchmark end to end at two tiny scales: the whole build on DuckDB and on a local Spark session over
the same lake, every stage timed on both, and each stage's scaling exponent from the two scales."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from benchmarks.engines import DUCKDB, ENGINES, SPARK, STOPPED, NodeLog, exponents_table, readme_tables
from benchmarks.harness.build_stages import (
    DETAILED_STAGES,
    ENRICHMENT,
    MATCHING,
    OVERHEAD,
    PREDICTIONS,
    SEGMENTS,
    STAGING,
    STITCHING,
)
from benchmarks.harness.children import PROJECT_ROOT
from benchmarks.harness.probes import ProcessTree
from tessera.dbt_runner import NodeProgress
from tests.benchmarks.conftest import BenchmarkRun, lake_rows

SCALES = (150, 300)
#: The Spark driver's heap the run asks for; pyspark's default would be 1 GiB.
DRIVER_MEMORY_MB = 1536
#: The kinds of dbt node a build runs, as the manifest names them.
BUILT = ("model", "seed", "test", "operation")


def run_engines(workdir: Path, *options: str) -> BenchmarkRun:
    """`python -m benchmarks.engines` at the tiny scales: two Spark builds, each planning every model on a busy
    machine, take longer than the other benchmarks' smoke runs get (`run_benchmark`)."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.engines", *options, "--workdir", str(workdir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=3300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    [report] = (workdir / "results").glob("engines-*.json")
    return BenchmarkRun(workdir, json.loads(report.read_text()), proc.stdout)


def project_nodes(home: Path) -> set[str]:
    """Every node the home's last parse or build enabled: what a whole production build runs there. dbt lists
    the data tests of a disabled model (the probabilistic one here) among the nodes, disabled."""
    manifest = json.loads((home / "dbt" / "target" / "manifest.json").read_text())
    return {
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in BUILT and node["config"].get("enabled", True)
    }


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_both_engines_build_every_stage_and_the_exponents_come_from_two_scales(tmp_path: Path) -> None:
    scales = ",".join(str(n) for n in SCALES)
    run = run_engines(
        tmp_path,
        *("--customers", scales, "--spark-driver-memory", f"{DRIVER_MEMORY_MB}m"),
        *("--dbt-vars", "{probabilistic_matching: false}"),  # Splink on Spark is the slowest part of a tiny build
    )
    assert run.report["benchmark"] == "engines-regional", "the regional world unless --world says otherwise"
    results = run.report["results"]
    assert [r["customers"] for r in results] == list(SCALES)

    for result in results:
        customers = result["customers"]
        root = tmp_path / "regional" / f"unify-c{customers}-s42"
        assert result["lake"]["rows"] == sum(lake_rows(root / "lake").values()) > 0
        homes = tmp_path / "regional" / f"engines-c{customers}-s42"
        for engine in ENGINES:
            figures = result["engines"][engine]
            [build] = result["runs"][engine]
            # Each engine built the whole project in its own home: every node its manifest enables, all of them
            # succeeded, and each falls in a named stage (none in `other`).
            assert {n["id"] for n in build["nodes"]} == project_nodes(homes / engine), engine
            assert figures["failed_nodes"] == figures["skipped_nodes"] == [] and build["error"] is None, engine
            assert list(figures["stages"]) == [*DETAILED_STAGES, OVERHEAD], engine
            by_id = {n["id"]: n["stage"] for n in build["nodes"]}
            assert by_id["model.tessera.int_web_events_enriched"] == ENRICHMENT
            # The vars reached both builds: matching's records are built, its model is switched off.
            assert by_id["model.tessera.int_profile_records"] == MATCHING
            assert "model.tessera.int_identity_edges__probabilistic" not in by_id
            assert by_id["model.tessera.int_identity_resolution"] == STITCHING
            assert by_id["model.tessera.customer_predictions"] == PREDICTIONS
            assert by_id["model.tessera.lapsed_vips"] == SEGMENTS
            # The stages and dbt's own time split the wall time between them, and every stage took time.
            stage_seconds = [s["seconds"] for s in figures["stages"].values()]
            assert sum(stage_seconds) == pytest.approx(figures["seconds"], abs=0.01), engine
            assert all(s > 0 for s in stage_seconds), (engine, figures["stages"])

        duckdb_figures, spark_figures = result["engines"][DUCKDB], result["engines"][SPARK]
        # Both engines made golden customers, and DuckDB's are what its warehouse holds.
        with duckdb.connect(str(homes / DUCKDB / "warehouse.duckdb"), read_only=True) as con:
            golden = con.sql("select count(*) from marts.golden_customers").fetchall()[0][0]
        assert duckdb_figures["golden_customers"] == golden > 0 and spark_figures["golden_customers"] > 0
        # Spark's CPU time and memory include its JVM and Python workers, and the JVM got the driver memory asked
        # for; DuckDB builds in the build's own process (what it starts is a short-lived helper or two).
        [spark_build] = result["runs"][SPARK]
        [duckdb_build] = result["runs"][DUCKDB]
        assert spark_build["processes"] > duckdb_build["processes"]
        assert 0.8 * DRIVER_MEMORY_MB < spark_figures["spark"]["driver_max_heap_mb"] <= DRIVER_MEMORY_MB
        assert spark_figures["peak_mb"] > duckdb_figures["peak_mb"]
        for row in result["stages"]:
            assert row["ratio"] == pytest.approx(row[SPARK]["seconds"] / row[DUCKDB]["seconds"]), row["stage"]
        assert result["ratio"] == pytest.approx(spark_figures["seconds"] / duckdb_figures["seconds"])
        assert run.printed(readme_tables, f"stages-{customers}")

    # Each stage's exponent on each engine is log(t2 ÷ t1) ÷ log(n2 ÷ n1) between the two scales.
    exponents = {row[0]: row for row in readme_tables(run.report)["exponents"].rows}
    small, large = results
    for stage in DETAILED_STAGES:
        for column, engine in ((3, DUCKDB), (6, SPARK)):
            t1, t2 = (r["engines"][engine]["stages"][stage]["seconds"] for r in (small, large))
            k = math.log(t2 / t1) / math.log(SCALES[1] / SCALES[0])
            assert exponents[stage][column] == f"{k:.2f}", (stage, engine)
    assert run.printed(readme_tables, "exponents") and run.printed(readme_tables, "scales")


def scale(customers: int, seconds: dict[str, dict[str, float]], complete: bool = True) -> dict:
    """A recorded scale with only the figures the exponents read: per engine, each stage's seconds."""
    engines = {}
    for engine, stages in seconds.items():
        engines[engine] = {
            "stages": {stage: {"seconds": s, "complete": complete or engine == DUCKDB} for stage, s in stages.items()},
            "seconds": sum(stages.values()),
            "cpu_seconds": 2 * sum(stages.values()),
            "peak_mb": customers / 10,
            "failed_nodes": [] if complete or engine == DUCKDB else ["model.tessera.x"],
            "skipped_nodes": [],
            "stopped_nodes": [],
            "stopped": False,
        }
    return {"customers": customers, "engines": engines}


@pytest.mark.unit
def test_exponents_come_from_the_two_largest_scales_and_skip_what_an_engine_did_not_build() -> None:
    results = [
        scale(1_000, {DUCKDB: {STITCHING: 9.0}, SPARK: {STITCHING: 9.0}}),
        scale(10_000, {DUCKDB: {STITCHING: 1.0, MATCHING: 2.0}, SPARK: {STITCHING: 10.0, MATCHING: 5.0}}),
        scale(100_000, {DUCKDB: {STITCHING: 10.0, MATCHING: 200.0}, SPARK: {STITCHING: 10.0, MATCHING: 5.0}}),
    ]
    table = exponents_table(results)
    assert table.header == (
        "cost",
        "DuckDB 10,000",
        "DuckDB 100,000",
        "DuckDB k",
        "Spark 10,000",
        "Spark 100,000",
        "Spark k",
    )
    rows = {row[0]: row[1:] for row in table.rows}
    # Linear is 1, quadratic 2, flat 0.
    assert rows[STITCHING] == ("1.00", "10.00", "1.00", "10.00", "10.00", "0.00")
    assert rows[MATCHING] == ("2.00", "200.00", "2.00", "5.00", "5.00", "0.00")
    assert rows["peak memory (MB)"][2::3] == ("1.00", "1.00")

    # A stage Spark did not build whole at the larger scale is marked, and gets no exponent there.
    results[-1] = scale(
        100_000, {DUCKDB: {STITCHING: 10.0, MATCHING: 200.0}, SPARK: {STITCHING: 3.0, MATCHING: 1.0}}, complete=False
    )
    rows = {row[0]: row[1:] for row in exponents_table(results).rows}
    assert rows[STITCHING] == ("1.00", "10.00", "1.00", "10.00", "3.00 *", "n/a")
    assert rows["build (wall)"][5] == "n/a" and rows["build (wall)"][2] == "1.85"


#: A program that holds 300 MB, keeps a core busy for 1.5 CPU seconds, says so, then waits to be told to end.
BURN = (
    "import sys, time\n"
    "held = b'1' * (300 << 20)\n"
    "end = time.process_time() + 1.5\n"
    "while time.process_time() < end: pass\n"
    "print('done', flush=True)\n"
    "sys.stdin.readline()\n"
)


@pytest.mark.unit
def test_the_process_tree_counts_the_cpu_and_memory_of_processes_it_starts() -> None:
    tree = ProcessTree(interval=0.1).start()
    child = subprocess.Popen([sys.executable, "-c", BURN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "done\n"
        # Still running, as a JVM serving a session is: no wait() has folded its usage into this process's.
        usage = tree.stop()
    finally:
        child.communicate("\n", timeout=30)
    # The child, and whatever else this process had started before (a test worker's servers)
    assert child.pid in tree.processes and usage["processes"] == len(tree.processes) >= 1
    assert usage["cpu_seconds"] >= 1.5
    assert usage["peak_mb"] >= 300 + 20  # the child's 300 MB on top of this process's own peak


@pytest.mark.unit
def test_a_build_stopped_at_the_time_limit_keeps_the_nodes_it_finished(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    nodes = {
        "model.tessera.stg_crm__contacts": ("model", ["tessera", "staging", "crm", "stg_crm__contacts"]),
        "model.tessera.int_identity_edges__probabilistic": (
            "model",
            ["tessera", "intermediate", "identity", "int_identity_edges__probabilistic"],
        ),
    }
    manifest.write_text(
        json.dumps(
            {"nodes": {uid: {"name": fqn[-1], "resource_type": kind, "fqn": fqn} for uid, (kind, fqn) in nodes.items()}}
        )
    )
    log = NodeLog()
    log(NodeProgress(0, 2, "stg_crm__contacts", "model"))
    log(NodeProgress(1, 2, "stg_crm__contacts", "model", "success"))
    log(NodeProgress(1, 2, "int_identity_edges__probabilistic", "model"))
    now = log.events[-1][0] + 5.0

    finished, running = log.nodes(manifest, now)
    assert (finished["id"], finished["stage"], finished["status"]) == (
        "model.tessera.stg_crm__contacts",
        STAGING,
        "success",
    )
    assert finished["end"] == log.events[1][0] and finished["execution_time"] == finished["end"] - finished["start"]
    # The node still running is stopped at the limit: its stage is not built whole.
    assert (running["id"], running["stage"], running["status"]) == (
        "model.tessera.int_identity_edges__probabilistic",
        MATCHING,
        STOPPED,
    )
    assert running["end"] == now
