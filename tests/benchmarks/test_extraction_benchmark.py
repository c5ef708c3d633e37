"""The extraction benchmark end to end at a tiny scale: one command, every connector, a JSON report."""

from __future__ import annotations

import pytest

from benchmarks.extraction import readme_tables
from connectors.registry import registry


@pytest.mark.slow
def test_benchmark_reports_every_connector_against_its_baseline(run_benchmark) -> None:
    run = run_benchmark("extraction", "--customers", "300")

    report = run.report
    assert report["world"]["customers"] == 300 and report["world"]["setup"] == "built"
    assert [r["connector"] for r in report["results"]] == list(registry().sources)
    for r in report["results"]:
        name, source = r["connector"], registry().sources[r["connector"]]
        assert set(r["streams"]) == set(source.stream_names), name
        assert r["rows"] == sum(s["rows"] for s in r["streams"].values()) > 0, name
        assert r["quarantined"] == sum(s["quarantined"] for s in r["streams"].values()), name
        # Every record the baseline read, the connector landed or quarantined.
        assert r["records_match"], f"{name}: {r['rows']} + {r['quarantined']} landed vs {r['baseline_rows']} read"
        assert len(r["runs"]["connector"]) == len(r["runs"]["baseline"]) == report["repeat"] == 3, name
        assert r["rows_per_s"] == pytest.approx(r["rows"] / r["seconds"]), name
        assert r["baseline_rows_per_s"] == pytest.approx(r["baseline_rows"] / r["baseline_seconds"]), name
        assert r["time_ratio"] == pytest.approx(r["seconds"] / r["baseline_seconds"]), name
        assert r["memory_ratio"] == pytest.approx(r["peak_mb"] / r["baseline_peak_mb"]), name
    assert not (run.workdir / "runs").exists(), "each run's lake is removed after it is measured"
    assert run.printed(readme_tables, "results")
