"""The transform benchmark end to end at a tiny scale: one command, every stage timed, a JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.extraction import PROJECT_ROOT
from benchmarks.transform import OVERHEAD, STAGES, STITCHING


@pytest.mark.slow
def test_benchmark_times_every_stage_and_stitching_against_plain_components(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.transform"),
            *("--customers", "300", "--repeat", "1", "--workdir", str(tmp_path)),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr

    reports = list((tmp_path / "results").glob("transform-*.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    [result] = report["results"]
    assert result["customers"] == 300 and result["world"]["setup"] == "built"
    assert result["lake"]["setup"] == "landed" and result["lake"]["rows"] > 0
    assert (tmp_path / "unify-c300-s42" / "landed.json").exists(), "the landed lake is kept for the next run"

    stages = {s["stage"]: s for s in result["stages"]}
    assert set(STAGES) <= set(stages)
    for name in STAGES:
        assert stages[name]["nodes"] > 0, name
        assert stages[name]["seconds"] > 0 and stages[name]["node_seconds"] > 0, name
    assert stages[STITCHING]["nodes"] == 2  # screening (SQL) and stitching (Python)
    # The stages and dbt's own time split the wall time between them.
    assert sum(s["seconds"] for s in stages.values()) == pytest.approx(result["seconds"], abs=0.01)
    assert stages[OVERHEAD]["seconds"] >= 0
    assert result["peak_mb"] > 0 and result["baseline_peak_mb"] > 0

    assert result["edges"] > 0 and result["nodes"] > result["components"] > 0
    assert 0 < result["golden_customers"] <= result["components"]
    assert result["cc_seconds"] > 0 and result["stitch_seconds"] > 0
    assert result["stitch_ratio"] > 0
    assert result["stitch_ratio"] == pytest.approx(result["stitch_seconds"] / result["cc_seconds"])
    assert "stitching" in proc.stdout and "stitch ÷ CC" in proc.stdout
