"""The activation benchmark end to end at a tiny scale: one command, three syncs timed, the rows and bytes the
stand-in received counted, the incremental verdict worked out from those counts, a JSON report."""

from __future__ import annotations

import pytest

from benchmarks.activation import GOAL, OTHER, SEGMENT, readme_tables
from tessera.activation.state import open_state, sync_log
from tessera.home import TesseraHome


@pytest.mark.slow
def test_benchmark_syncs_a_segment_then_one_day_of_churn_then_a_full_resend(run_benchmark) -> None:
    run = run_benchmark("activation", "--customers", "2000", "--repeat", "1")
    [result] = run.report["results"]
    assert run.report["goal"] == GOAL and run.report["activation"]["mode"] == "add_remove"
    churn, expected = result["churn"], result["expected"]
    assert result["customers"] == churn["segment_day0"] == churn["segment_day1"] == 2000
    assert (churn["leavers"], churn["joiners"], churn["identifier_changes"]) == (10, 10, 4)
    first, incremental, full = result["syncs"]
    assert [s["key"] for s in result["syncs"]] == ["first", "incremental", "full_resend"]

    # Every sync ran, timed apart from its imports, and its stages add up to its wall time.
    for sync in result["syncs"]:
        [run_figures] = [r[sync["key"]] for r in result["runs"]]
        assert run_figures["status"] == "success" and run_figures["seconds"] == sync["seconds"] > 0
        assert sync["peak_mb"] >= run_figures["import_mb"] > 0
        stages = {s["stage"]: s["seconds"] for s in sync["stages"]}
        assert OTHER in stages and sum(stages.values()) == pytest.approx(sync["seconds"])
        assert sync["rows_per_second"] == pytest.approx(sync["rows_sent"] / sync["seconds"])

    # The first sync and the full resend send every sendable member; the incremental what the churn changed.
    assert first["rows_sent"] == first["plan"]["add"] == churn["sendable_day0"]
    assert full["rows_sent"] == full["plan"]["add"] == result["members"] == churn["sendable_day1"]
    plan = incremental["plan"]
    assert {change: plan[change] for change in expected} == expected
    assert 0 < plan["update"] <= 4 and 0 < plan["remove"] <= 10 and 0 < plan["add"] <= 10

    # The verdict comes from those counts: an identifier change is one changed row, sent as a remove and an add.
    changed = plan["add"] + plan["update"] + plan["remove"]
    assert result["changed_rows"] == changed > 0
    assert incremental["rows_sent"] == result["rows_sent"] == result["expected_rows_sent"] == changed + plan["update"]
    sent = incremental["sent"]
    assert (sent["delete_rows"], sent["post_rows"]) == (plan["remove"] + plan["update"], plan["add"] + plan["update"])
    assert result["sent_ratio"] == pytest.approx(result["rows_sent"] / changed)
    assert result["within_goal"] == (result["sent_ratio"] <= GOAL)
    assert 0 < result["incremental_bytes"] < result["full_resend_bytes"] == full["bytes_sent"]
    assert result["bytes_ratio"] == pytest.approx(result["incremental_bytes"] / result["full_resend_bytes"])

    # The state the syncs left: every sendable member of day 1 confirmed, three successful runs logged.
    home = TesseraHome(run.workdir / "activation-c2000-s42" / "home")
    with open_state(home, SEGMENT, "meta_ads") as con:
        assert con.execute("select count(*) from members").fetchone()[0] == churn["sendable_day1"]
    log = sync_log(home)
    assert [(row["status"], row["added"], row["updated"], row["removed"]) for row in reversed(log)] == [
        ("success", churn["sendable_day0"], 0, 0),
        ("success", plan["add"], plan["update"], plan["remove"]),
        ("success", churn["sendable_day1"], 0, 0),
    ]
    assert run.printed(readme_tables, "syncs-2000")
