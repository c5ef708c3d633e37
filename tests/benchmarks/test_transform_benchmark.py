"""The transform benchmark end to end at a tiny scale: one command, every stage timed, a JSON report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from benchmarks.harness.build_stages import OVERHEAD, STAGES, STITCHING, TESTS
from benchmarks.harness.readme import README, record_results, recorded_tables, render_regions
from benchmarks.harness.results import RECORDED_DIR
from benchmarks.transform import REFERENCE_WAREHOUSE, exponents_table, readme_tables, reference_line
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
    assert {n["id"] for n in build["nodes"]} == project  # a production build: no unit tests
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


@pytest.mark.slow
def test_benchmark_on_the_regional_world_measures_the_build_against_the_minimal_reference(run_benchmark) -> None:
    run = run_benchmark("transform", "--customers", "300", "--repeat", "1", "--world", "regional")
    [result] = run.report["results"]
    assert run.report["benchmark"] == "transform-regional" and result["world"]["shape"] == "regional"

    # The regional world and its lake live in a folder of their own, apart from the diverse world's.
    home = run.workdir / "regional"
    assert result["world"]["sim_dir"] == str(home / "world-c300-s42")
    assert json.loads((home / "world-c300-s42" / "state.json").read_text())["config"]["world"] == "regional"
    root = home / "unify-c300-s42"
    assert result["lake"]["root"] == str(root) and not (run.workdir / "unify-c300-s42").exists()

    # The reference read every landed row, and labelled every record of the deterministic graph.
    reference = result["reference"]
    assert reference["rows"] == sum(lake_rows(root / "lake").values()) == result["lake"]["rows"]
    with duckdb.connect(str(root / REFERENCE_WAREHOUSE), read_only=True) as con:
        records, components = con.sql("select count(*), count(distinct component) from identity_components").fetchall()[
            0
        ]
        emails = con.sql("select count(*) from crm__contacts where email <> lower(trim(email))").fetchall()[0][0]
    assert (records, components) == (reference["records"], reference["components"]) and emails == 0
    assert reference["nodes"] > reference["components"] and reference["edges"] >= reference["records"]
    assert result["build_reference_ratio"] == pytest.approx(result["seconds"] / reference["seconds"])

    # What matching compared is what the build's own profile records and blocking plan say.
    matching = result["matching"]
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        profiles = con.sql("select count(*) from intermediate.int_profile_records").fetchall()[0][0]
    plan = matching["blocking_plan"]
    assert matching["records"] == plan["records"] == profiles
    assert matching["pairs_per_record"] == pytest.approx(matching["pairs_compared"] / profiles)
    assert matching["pairs_compared"] <= plan["comparisons"] == sum(r["scored_comparisons"] for r in plan["rules"])
    assert all(r["scored_comparisons"] <= plan["budget"] for r in plan["rules"])
    assert run.printed(readme_tables, "blocking-300") and reference_line(result) in run.stdout


def scale_result(customers: int, rows: int, seconds: dict[str, float], reference: float) -> dict:
    """A recorded scale, with only the figures the cost exponents read."""
    return {
        "customers": customers,
        "lake": {"rows": rows},
        "stages": [{"stage": stage, "seconds": s} for stage, s in seconds.items()],
        "seconds": sum(seconds.values()),
        "peak_mb": rows / 1000,
        "reference": {"seconds": reference},
    }


@pytest.mark.unit
def test_cost_exponents_compare_the_two_largest_scales_of_each_world() -> None:
    diverse = {
        "results": [
            scale_result(1_000, 10_000, {STITCHING: 5.0, TESTS: 7.0}, 1.0),
            scale_result(10_000, 100_000, {STITCHING: 1.0, TESTS: 10.0}, 2.0),
            scale_result(100_000, 1_000_000, {STITCHING: 10.0, TESTS: 10.0}, 20.0),
        ]
    }
    regional = {
        "results": [
            scale_result(10_000, 80_000, {STITCHING: 2.0}, 1.0),
            scale_result(20_000, 160_000, {STITCHING: 8.0}, 2.0),
        ]
    }
    table = exponents_table({"diverse": diverse, "regional": regional})
    assert table.header == (
        "cost",
        "diverse 10,000",
        "diverse 100,000",
        "diverse exponent",
        "regional 10,000",
        "regional 20,000",
        "regional exponent",
    )
    rows = {row[0]: row[1:] for row in table.rows}
    assert rows["lake rows"] == ("100,000", "1,000,000", "", "80,000", "160,000", "")
    # Linear in the rows is 1, flat is 0, quadratic is 2; a stage one world does not have is n/a there.
    assert rows[STITCHING] == ("1.0", "10.0", "1.00", "2.0", "8.0", "2.00")
    assert rows[TESTS] == ("10.0", "10.0", "0.00", "n/a", "n/a", "n/a")
    assert rows["minimal reference"][2::3] == ("1.00", "1.00")
    assert rows["build peak memory (MB)"][2::3] == ("1.00", "1.00")


@pytest.mark.unit
def test_recording_a_run_on_a_world_rewrites_the_worlds_side_by_side(tmp_path: Path) -> None:
    readme, recorded = tmp_path / "README.md", tmp_path / "recorded"
    readme.write_text(README.read_text())
    shutil.copytree(RECORDED_DIR, recorded)
    report = json.loads((RECORDED_DIR / "transform-regional.json").read_text())
    largest = max(report["results"], key=lambda r: r["customers"])
    seconds = largest["reference"]["seconds"]
    largest["reference"]["seconds"] = 2 * seconds
    results = tmp_path / "results" / "transform-regional-20261201T000000Z.json"
    results.parent.mkdir()
    results.write_text(json.dumps(report))

    recorded_as = record_results(results, "transform-regional", readme_tables, readme, recorded)
    assert recorded_as == recorded / "transform-regional.json" and json.loads(recorded_as.read_text()) == report
    changed = [
        (old, new)
        for old, new in zip(README.read_text().splitlines(), readme.read_text().splitlines(), strict=True)
        if old != new
    ]
    # The regional row of the worlds' reference table, and the reference's cost exponents.
    [(old_row, new_row), (old_exponents, new_exponents)] = changed
    assert old_row.startswith(f"| regional | {largest['customers']:,} |")
    assert new_row == old_row.replace(f"| {seconds:.1f} |", f"| {2 * seconds:.1f} |", 1)
    assert old_exponents.startswith("| minimal reference |") and new_exponents.startswith("| minimal reference |")
    # What the run rewrote is what `python -m benchmarks.report` makes from the recorded files.
    assert render_regions(readme.read_text(), "transform-worlds", *recorded_tables("transform-worlds", recorded)) == (
        readme.read_text()
    )
