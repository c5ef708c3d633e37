"""The predictors' scale benchmark end to end at a tiny scale: a customer base drawn from a known process, its
feature tables built by dbt, the predictors trained and every buyer scored; the figures are the quotients they
claim, the models find the process back, and the tables printed are the ones the README is written from."""

from __future__ import annotations

import pytest

from benchmarks.predictors_scale import PROCESS, TRAINING_PARTS, readme_tables

CUSTOMERS = 3_000


@pytest.mark.slow
def test_benchmark_builds_trains_and_scores_a_known_customer_base(run_benchmark) -> None:
    run = run_benchmark("predictors_scale", "--customers", str(CUSTOMERS), "--repeat", "1", "--seed", "7")
    [result] = run.report["results"]
    assert result["customers"] == CUSTOMERS and result["seed"] == 7

    base = result["base"]
    assert base["activity"]["purchase"] >= CUSTOMERS  # every customer's first purchase, then repeats
    assert set(base["activity"]) == {"purchase", "email_open", "email_click", "web_session"}
    assert base["activity_rows"] == sum(base["activity"].values())
    # Every customer has first bought by "now": one feature row, and one prediction, each.
    assert result["baseline"]["rows"] == result["scoring"]["rows"] == CUSTOMERS
    assert set(result["features"]["models"]) == {"int_customer_purchase_features", "int_customer_feature_history"}
    assert all(seconds > 0 for seconds in result["features"]["models"].values())

    training = result["training"]
    # The base is drawn from the Pareto/NBD process itself, so at this scale the purchase model's own churn
    # probability backtests better than the classifier, which is then not kept, and the version says why.
    assert training["version"] == "v0001" and training["churn_source"] == "purchase_model"
    assert any("is no better than" in note for note in training["report"]["notes"])
    assert set(TRAINING_PARTS) <= set(training["parts"])
    assert sum(training["parts"].values()) == pytest.approx(training["seconds"], abs=0.05)
    ratios = result["ratios"]
    assert ratios["scoring_to_baseline"] == pytest.approx(result["scoring"]["seconds"] / result["baseline"]["seconds"])
    assert ratios["training_to_baseline"] == pytest.approx(training["seconds"] / result["baseline"]["seconds"])
    assert result["ms_per_1k_customers"]["scoring"] == pytest.approx(
        1000 * result["scoring"]["seconds"] / (CUSTOMERS / 1000)
    )

    # The models learn the known process: forecasts near what happened, a churn classifier far above chance,
    # and the fitted parameters near the ones the base was drawn with.
    report = training["report"]
    project = report["purchase_backtests"]["pareto_nbd"]
    assert project["actual_total"] > 0 and abs(project["relative_error"]) < 0.25
    assert sum(d["actual"] for d in project["deciles"]) == project["actual_total"]
    assert "bg_nbd" in report["purchase_backtests"]
    assert report["churn_backtest"]["auc"] > 0.7
    assert training["purchase_params"]["r"] == pytest.approx(PROCESS.r, rel=0.3)
    for name in ("p", "q"):
        assert training["spend_params"][name] == pytest.approx(getattr(PROCESS, name), rel=0.3), name

    for name in (f"run-{CUSTOMERS}", f"parts-{CUSTOMERS}", "backtests", "params"):
        assert run.printed(readme_tables, name), name
