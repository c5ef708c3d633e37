"""The predictions benchmark end to end at the paper's split: both models forecast the same CDNOW holdout, the
figures are the quotients they claim, and the tables printed are the ones the README is written from."""

from __future__ import annotations

import pytest

from benchmarks.predictions import readme_tables


@pytest.mark.slow
def test_benchmark_compares_the_forecast_with_plain_bg_nbd_on_the_cdnow_holdout(run_benchmark) -> None:
    run = run_benchmark("predictions", "--cutoff-weeks", "39")
    [split] = run.report["results"]
    assert split["cutoff_weeks"] == 39 and split["customers"] == 23_570

    plain, project = split["models"]["bg_nbd"], split["models"]["pareto_nbd"]
    assert plain["actual_total"] == project["actual_total"] > 0  # one holdout, counted once
    for model in (plain, project):
        error = (model["predicted_total"] - model["actual_total"]) / model["actual_total"]
        assert model["relative_error"] == pytest.approx(error)
        assert sum(d["customers"] for d in model["deciles"]) == model["customers"] == 23_570
        assert sum(d["actual"] for d in model["deciles"]) == model["actual_total"]
        assert sum(d["predicted"] for d in model["deciles"]) == pytest.approx(model["predicted_total"])
    # The claim: a smaller total error and a smaller per-customer MAE than plain BG/NBD.
    assert abs(project["relative_error"]) < abs(plain["relative_error"]) and project["mae"] < plain["mae"]
    for name in ("paper", "deciles", "cutoffs"):
        assert run.printed(readme_tables, name), name
