"""The incremental-run benchmark end to end at a tiny scale: a day landed on a copy, both runs timed, a JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.extraction import PROJECT_ROOT
from benchmarks.incremental import DAY0_WAREHOUSE, FULL, INCREMENTAL
from benchmarks.transform import STAGING, STITCHING


@pytest.mark.slow
def test_benchmark_times_a_daily_run_against_a_full_refresh_of_the_same_lake(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.incremental"),
            *("--customers", "300", "--repeat", "1", "--workdir", str(tmp_path)),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr

    reports = list((tmp_path / "results").glob("incremental-*.json"))
    assert len(reports) == 1
    [result] = json.loads(reports[0].read_text())["results"]
    assert result["customers"] == 300 and result["world"]["setup"] == "built"
    assert result["lake"]["setup"] == "landed" and result["lake"]["rows"] > 0

    # The shared world and lake stay as they were: the day was landed on a private copy.
    shared = json.loads((tmp_path / "unify-c300-s42" / "landed.json").read_text())
    assert shared["clock"] == result["world"]["clock"] == result["day"]["start"]
    assert not (tmp_path / "unify-c300-s42" / "warehouse.duckdb").exists()
    copy = tmp_path / "incremental-c300-s42"
    assert (copy / DAY0_WAREHOUSE).exists() and (copy / "home" / "warehouse.duckdb").exists()

    day = result["day"]
    assert day["end"] > day["start"]
    assert 0 < day["rows"] < day["lake_rows"] == result["lake"]["rows"] + day["rows"]
    assert day["share_of_lake"] == pytest.approx(day["rows"] / day["lake_rows"])

    inc, full = result[INCREMENTAL], result[FULL]
    assert len(result["runs"][INCREMENTAL]) == len(result["runs"][FULL]) == 1
    assert "stg_crm__contacts" in inc["incremental_models"] and not full["incremental_models"]
    for run in (inc, full):
        assert run["seconds"] > 0 and run["peak_mb"] > 0
        for stage in (STAGING, STITCHING):
            assert run["stages"][stage]["seconds"] > 0, stage
        # Stage times come from dbt's timestamps, the build time from the clock: equal to within rounding.
        assert sum(s["seconds"] for s in run["stages"].values()) == pytest.approx(run["seconds"], abs=0.01)
    # A day's changes re-decide part of the graph; a full refresh re-decides all of it, to the same edges.
    assert result["same_edges"] and result["edges"] == inc["edges"] == full["edges"] > 0
    assert 0 < result["redecided_share"] < 1
    assert result["redecided_edges"] <= result["changed_edges"] < result["edges"]
    assert full["redecided_share"] == full["changed_share"] == 1
    assert result["ratio"]["seconds"] == pytest.approx(inc["seconds"] / full["seconds"])
    for stage in (STAGING, STITCHING):
        assert result["ratio"]["stages"][stage] == pytest.approx(
            inc["stages"][stage]["seconds"] / full["stages"][stage]["seconds"]
        )
    assert "incremental ÷ full" in proc.stdout and "re-decided" in proc.stdout
