"""The transform benchmark end to end at a tiny scale: one command, every stage timed, a JSON report."""

from __future__ import annotations

import json

import duckdb
import pytest

from benchmarks.harness.build_stages import OVERHEAD, STAGES, STITCHING, TESTS
from benchmarks.transform import readme_tables
from tests.benchmarks.conftest import lake_rows

#: The kinds of dbt node a build runs, as the manifest names them.
BUILT = ("model", "seed", "test", "operation")


@pytest.mark.slow
def test_benchmark_times_every_stage_and_stitching_against_plain_components(run_benchmark) -> None:
    run = run_benchmark("transform", "--customers", "300", "--repeat", "1")
    [result] = run.report["results"]
    assert result["customers"] == 300 and result["world"]["setup"] == "built"

    # The lake is kept for the next run, and the report's counts are what it holds, stream by stream.
    root = run.workdir / "unify-c300-s42"
    landed = json.loads((root / "landed.json").read_text())
    assert result["lake"]["setup"] == "landed" and landed["clock"] == result["world"]["clock"]
    rows = lake_rows(root / "lake")
    assert {name: stream["rows"] for name, stream in result["lake"]["streams"].items()} == rows
    assert result["lake"]["rows"] == sum(rows.values()) > 0

    # Every node the build ran is one of the project's, and falls in a named stage (none in `other`).
    [build] = result["runs"]["build"]
    manifest = json.loads((root / "dbt" / "target" / "manifest.json").read_text())
    project = {uid for uid, node in manifest["nodes"].items() if node["resource_type"] in BUILT}
    assert {n["id"] for n in build["nodes"]} == project | set(manifest["unit_tests"])
    stages = {s["stage"]: s for s in result["stages"]}
    assert list(stages) == [*STAGES, OVERHEAD]
    for name in STAGES:
        nodes = [n for n in build["nodes"] if n["stage"] == name]
        assert stages[name]["nodes"] == len(nodes), name
        assert stages[name]["node_seconds"] == pytest.approx(sum(n["execution_time"] for n in nodes)), name
    stitching = sorted(n["id"] for n in build["nodes"] if n["stage"] == STITCHING)
    assert stitching == ["model.tessera.int_identity_edge_screening", "model.tessera.int_identity_resolution"]
    assert sum(1 for n in build["nodes"] if n["id"].startswith(("test.", "unit_test."))) == stages[TESTS]["nodes"]

    # The stages and dbt's own time split the wall time between them; shares are of that wall time.
    assert sum(s["seconds"] for s in stages.values()) == pytest.approx(result["seconds"], abs=0.01)
    for stage in stages.values():
        assert stage["share"] == pytest.approx(stage["seconds"] / result["seconds"]), stage["stage"]
    assert result["stitching_seconds"] == stages[STITCHING]["seconds"]
    assert result["stitching_share"] == stages[STITCHING]["share"]

    # The baseline ran on what the build left in the warehouse.
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        edges = con.sql("select count(*) from intermediate.int_identity_edges").fetchall()[0][0]
        golden = con.sql("select count(*) from marts.golden_customers").fetchall()[0][0]
    assert result["edges"] == edges and result["golden_customers"] == golden
    assert result["nodes"] > result["components"] >= golden > 0
    assert result["stitch_ratio"] == pytest.approx(result["stitch_seconds"] / result["cc_seconds"])
    assert run.printed(readme_tables, "stages-300")
