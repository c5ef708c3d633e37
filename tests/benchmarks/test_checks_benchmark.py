"""The checks benchmark end to end at a tiny scale: one command, the check and the DuckDB query timed, a JSON report."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from benchmarks.checks import BATCH_ID, GOAL, OTHER, readme_tables
from connectors.lake import CHECKED, batch_state, read_marker

EMAIL_PATTERN = "expect_column_values_to_match_regex"


@pytest.mark.slow
def test_benchmark_times_the_check_against_one_duckdb_query_over_the_same_batch(run_benchmark) -> None:
    run = run_benchmark("checks", "--rows", "2000", "--repeat", "1")
    [result] = run.report["results"]
    assert run.report["stream"] == "email.events" and run.report["goal"] == GOAL

    # The batch landed as a loader leaves it, and both sides read every row of it.
    batch = result["batch"]
    folder = run.workdir / "checks-r2000-s42" / "lake" / "raw" / "email" / "events" / f"batch_id={BATCH_ID}"
    parts = sorted(folder.glob("part-*.parquet"))
    assert batch["files"] == len(parts) == 1 and batch["parquet_bytes"] == parts[0].stat().st_size
    assert result["rows"] == batch["rows"] == sum(pq.read_metadata(p).num_rows for p in parts) == 2000
    [check], [query] = result["runs"]["check"], result["runs"]["duckdb"]
    assert check["rows"] == query["facts"]["row_count"] == 2000

    # Both timings are there, imports apart, and the ratios are the quotients of the figures shown.
    for side in (check, query):
        assert side["seconds"] > 0 and side["import_seconds"] > 0 and side["peak_mb"] >= side["import_mb"] > 0
    assert result["seconds"] == check["seconds"] and result["duckdb_seconds"] == query["seconds"]
    assert result["time_ratio"] == pytest.approx(result["seconds"] / result["duckdb_seconds"])
    assert result["memory_ratio"] == pytest.approx(result["peak_mb"] / result["duckdb_peak_mb"])
    assert result["within_goal"] == (result["time_ratio"] <= GOAL)
    stages = {s["stage"]: s["seconds"] for s in result["stages"]}
    assert OTHER in stages and sum(stages.values()) == pytest.approx(result["seconds"])

    # The deliberately malformed addresses: the check warns about exactly those, and lets the batch through.
    bad, missing = batch["bad_emails"], batch["null_emails"]
    assert 0.05 * 2000 < bad < 0.2 * 2000
    assert result["passed"] and result["expectations"] == 23
    [warning] = result["failures"]
    assert (warning["expectation"], warning["column"], warning["severity"]) == (EMAIL_PATTERN, "email", "warning")
    assert warning["observed"].startswith(f"{bad:,} of {2000 - missing:,} non-null values")
    assert batch_state(folder) == "checked"
    assert len(read_marker(folder, CHECKED)["warnings"]) == 1

    # The query found the same addresses, and so the same single failure.
    facts = query["facts"]
    assert (facts["unmatched_emails"], facts["emails"]) == (bad, 2000 - missing)
    assert facts["duplicate_keys"] == facts["foreign_batch_ids"] == 0
    assert result["duckdb_failures"] == [{"expectation": EMAIL_PATTERN, "column": "email", "severity": "warning"}]
    assert result["verdicts_agree"]
    assert run.printed(readme_tables, "stages-2000")
