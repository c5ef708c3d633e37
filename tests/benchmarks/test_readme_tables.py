"""benchmarks/README.md's result tables are the recorded results, rendered: they cannot go stale."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks import matching
from benchmarks.harness.command import BenchmarkError
from benchmarks.harness.readme import README, record_results, regions
from benchmarks.harness.results import RECORDED_DIR
from benchmarks.report import BENCHMARKS, render_readme


@pytest.mark.unit
def test_readme_tables_are_the_recorded_results() -> None:
    text = README.read_text()
    assert {name for name, _ in regions(text)} == set(BENCHMARKS), "every benchmark shows its recorded figures"
    assert render_readme(text) == text, "benchmarks/README.md is stale: run `python -m benchmarks.report`"


@pytest.mark.unit
def test_a_recorded_figure_changes_its_cell_in_the_readme(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded"
    shutil.copytree(RECORDED_DIR, recorded)
    report = json.loads((recorded / "extraction.json").read_text())
    crm = next(r for r in report["results"] if r["connector"] == "crm")
    crm["rows"] = 1_234_567
    (recorded / "extraction.json").write_text(json.dumps(report))

    text = README.read_text()
    rendered = render_readme(text, recorded)
    changed = [(old, new) for old, new in zip(text.splitlines(), rendered.splitlines(), strict=True) if old != new]
    [(old, new)] = changed
    assert old.startswith("| crm | 73,659 |") and new == old.replace("| 73,659 |", "| 1,234,567 |")


@pytest.mark.unit
def test_a_readme_table_without_recorded_figures_is_an_error(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded"
    shutil.copytree(RECORDED_DIR, recorded)
    report = json.loads((recorded / "transform.json").read_text())
    report["results"] = [r for r in report["results"] if r["customers"] != 1_000_000]
    (recorded / "transform.json").write_text(json.dumps(report))

    with pytest.raises(ValueError, match="transform:stages-1000000"):
        render_readme(README.read_text(), recorded)


@pytest.mark.unit
def test_recording_a_run_copies_its_results_and_rewrites_only_its_tables(tmp_path: Path) -> None:
    readme, recorded = tmp_path / "README.md", tmp_path / "recorded"
    readme.write_text(README.read_text())
    report = json.loads((RECORDED_DIR / "matching.json").read_text())
    report["results"][0]["kinds"]["score"]["seconds"] = 4.3
    results = tmp_path / "results" / "matching-20261201T000000Z.json"
    results.parent.mkdir()
    results.write_text(json.dumps(report))

    assert record_results(results, "matching", matching.readme_tables, readme, recorded) == recorded / "matching.json"
    assert json.loads((recorded / "matching.json").read_text()) == report
    changed = [
        (old, new)
        for old, new in zip(README.read_text().splitlines(), readme.read_text().splitlines(), strict=True)
        if old != new
    ]
    [(old, new)] = changed
    assert old.startswith("| tessera score (daily) | 171,848 | 5.4 |") and new == old.replace("| 5.4 |", "| 4.3 |")


@pytest.mark.unit
def test_a_run_without_the_readme_scales_is_not_recorded(tmp_path: Path) -> None:
    readme, recorded = tmp_path / "README.md", tmp_path / "recorded"
    readme.write_text(README.read_text())
    report = json.loads((RECORDED_DIR / "matching.json").read_text())
    report["results"] = [{**report["results"][0], "customers": 300}]
    results = tmp_path / "matching-20261201T000000Z.json"
    results.write_text(json.dumps(report))

    with pytest.raises(BenchmarkError, match="not recorded: .*matching:runs-100000"):
        record_results(results, "matching", matching.readme_tables, readme, recorded)
    assert readme.read_text() == README.read_text() and not recorded.exists()
