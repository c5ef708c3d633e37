"""The extraction benchmark end to end at a tiny scale: one command, every connector, a JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.extraction import CONNECTORS, PROJECT_ROOT


@pytest.mark.slow
def test_benchmark_reports_every_connector_against_its_baseline(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.extraction", "--customers", "300", "--workdir", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr

    reports = list((tmp_path / "results").glob("extraction-*.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["world"]["customers"] == 300 and report["world"]["setup"] == "built"
    results = {r["connector"]: r for r in report["results"]}
    assert set(results) == set(CONNECTORS)
    for name, r in results.items():
        assert r["rows"] > 0, name
        assert r["records_match"], f"{name}: {r['rows']} + {r['quarantined']} landed vs {r['baseline_rows']} read"
        for key in ("seconds", "rows_per_s", "peak_mb", "baseline_seconds", "baseline_rows_per_s", "baseline_peak_mb"):
            assert r[key] > 0, f"{name}: {key} = {r[key]}"
        assert r["time_ratio"] > 0 and r["memory_ratio"] > 0, name
        assert r["time_ratio"] == pytest.approx(r["seconds"] / r["baseline_seconds"])
    assert set(results["email"]["streams"]) == {"subscribers", "events"}
    assert set(results["pos"]["streams"]) == {"loyalty_members", "transactions"}
    assert not (tmp_path / "runs").exists(), "each run's lake is removed after it is measured"
    assert "time ×" in proc.stdout and "web" in proc.stdout
