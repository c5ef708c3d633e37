"""The incremental-run benchmark end to end at a tiny scale: a day landed on a copy, both runs timed, a JSON report."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from benchmarks.harness.build_stages import STAGING, STITCHING
from benchmarks.incremental import DAY0_WAREHOUSE, FULL, INCREMENTAL, readme_tables
from tests.benchmarks.conftest import lake_rows


@pytest.mark.slow
@pytest.mark.timeout(1500)  # several builds of the whole project, predictions included
def test_benchmark_times_a_daily_run_against_a_full_refresh_of_the_same_lake(run_benchmark) -> None:
    run = run_benchmark("incremental", "--customers", "300", "--repeat", "1", "--hours", "6")
    [result] = run.report["results"]
    assert result["customers"] == 300 and result["world"]["setup"] == "built"
    assert result["lake"]["setup"] == "landed"

    # The shared world and lake stay as they were: the day was landed on a private copy.
    shared = run.workdir / "unify-c300-s42"
    assert (
        json.loads((shared / "landed.json").read_text())["clock"] == result["world"]["clock"] == result["day"]["start"]
    )
    assert sum(lake_rows(shared / "lake").values()) == result["lake"]["rows"]
    assert not (shared / "warehouse.duckdb").exists()
    copy = run.workdir / "incremental-c300-s42"
    assert (copy / DAY0_WAREHOUSE).exists() and (copy / "home" / "warehouse.duckdb").exists()

    # The day's first 6 hours landed; their counts are what they added to the copied lake, stream by stream.
    day = result["day"]
    assert datetime.fromisoformat(day["end"]) - datetime.fromisoformat(day["start"]) == timedelta(hours=6)
    before, after = lake_rows(shared / "lake"), lake_rows(copy / "home" / "lake")
    assert {name: stream["rows"] for name, stream in day["streams"].items()} == {
        name: after[name] - before[name] for name in after
    }
    assert 0 < day["rows"] < day["lake_rows"] == result["lake"]["rows"] + day["rows"] == sum(after.values())
    assert day["share_of_lake"] == pytest.approx(day["rows"] / day["lake_rows"])

    inc, full = result[INCREMENTAL], result[FULL]
    assert len(result["runs"][INCREMENTAL]) == len(result["runs"][FULL]) == 1
    assert "stg_crm__contacts" in inc["incremental_models"] and not full["incremental_models"]
    for r in (inc, full):
        # Stage times come from dbt's timestamps, the build time from the clock: equal to within rounding.
        assert sum(s["seconds"] for s in r["stages"].values()) == pytest.approx(r["seconds"], abs=0.01)
        assert r["redecided_share"] == pytest.approx(r["redecided_edges"] / r["edges"])
        assert r["changed_share"] == pytest.approx(r["changed_edges"] / r["edges"])
    # A day's changes re-decide part of the graph; a full refresh re-decides all of it, to the same edges.
    assert result["same_edges"] and result["edges"] == inc["edges"] == full["edges"] > 0
    assert 0 < result["redecided_edges"] <= result["changed_edges"] < result["edges"]
    assert full["redecided_edges"] == full["changed_edges"] == full["edges"]
    assert result["ratio"]["seconds"] == pytest.approx(inc["seconds"] / full["seconds"])
    assert result["ratio"]["peak_mb"] == pytest.approx(inc["peak_mb"] / full["peak_mb"])
    for stage in (STAGING, STITCHING):
        assert result["ratio"]["stages"][stage] == pytest.approx(
            inc["stages"][stage]["seconds"] / full["stages"][stage]["seconds"]
        )
    assert run.printed(readme_tables, "runs-300")
