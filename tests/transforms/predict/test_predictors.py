"""Training, keeping and scoring the predictors on feature tables shaped as the dbt models build them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.transforms.predict.synthetic import feature_tables
from transforms.predict.churn import NotEnoughHistory
from transforms.predict.predictors import (
    PREDICTION_COLUMNS,
    PredictorStore,
    RiskBands,
    backtest_rows,
    no_predictions,
    score,
    train_predictors,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def tables():
    return feature_tables(customers=1500, snapshots=3)


@pytest.fixture(scope="module")
def trained(tables):
    return train_predictors(*tables)


def test_training_keeps_the_purchase_spend_and_churn_models_with_their_backtests(trained):
    purchases, spend, churn, report = trained
    assert purchases.kind == "pareto_nbd" and purchases.window.unit == "days"
    assert spend.kind == "gamma_gamma" and churn is not None
    assert report.as_of == "2026-06-30" and report.buyers == 1500 and report.churn_source == "classifier"
    assert set(report.purchase_backtests) == {"pareto_nbd", "bg_nbd"}  # the forecast and its baseline
    assert report.churn_backtest.scored_as_of == "2026-04-01" and report.notes == []


def test_a_short_history_gets_churn_from_the_purchase_model_and_says_why(tables):
    current, history = tables
    one_window = history[history["snapshot_number"] == 1]
    *_, churn, report = train_predictors(current, one_window)
    assert churn is None and report.churn_source == "purchase_model"
    assert any("two labelled windows of 90 days" in note for note in report.notes)
    assert report.churn_backtest is not None  # the purchase model's own churn, backtested on the one window
    *_, report = train_predictors(current, one_window.iloc[0:0])
    assert report.purchase_backtests == {} and report.churn_backtest is None
    assert any("no purchase backtest" in note for note in report.notes)


def test_nothing_to_train_on_is_refused(tables):
    nobody = tables[0].assign(purchase_days=0, frequency=None)
    with pytest.raises(NotEnoughHistory, match="no customers"):
        train_predictors(nobody, tables[1])


def test_scores_cover_every_buyer_with_the_versions_models(tmp_path, tables, trained):
    store = PredictorStore(tmp_path / "predictions")
    predictors = store.save(*trained)
    current = tables[0]
    scored = score(predictors, current, RiskBands())
    assert list(scored.columns) == list(PREDICTION_COLUMNS)
    assert len(scored) == int((current["purchase_days"] > 0).sum()) and scored["customer_id"].is_unique
    assert set(scored["model_version"]) == {"v0001"} and set(scored["churn_risk"]) <= {"low", "medium", "high"}
    assert scored["p_alive"].between(0, 1).all() and scored["churn_probability_90d"].between(0, 1).all()
    assert (scored["expected_orders_365d"] >= scored["expected_orders_90d"]).all()
    assert (scored["predicted_clv_365d"] >= 0).all()


def test_versions_are_kept_and_the_current_one_reads_back(tmp_path, tables, trained):
    store = PredictorStore(tmp_path / "predictions")
    first, second = store.save(*trained), store.save(*trained)
    assert (first.version, second.version) == ("v0001", "v0002")
    assert [entry["version"] for entry in store.history()] == ["v0001", "v0002"]
    loaded = store.load_current()
    assert loaded.version == "v0002" and loaded.purchases == trained[0] and loaded.churn is not None
    current = tables[0]
    np.testing.assert_array_equal(
        score(loaded, current, RiskBands())["churn_probability_90d"],
        score(second, current, RiskBands())["churn_probability_90d"],
    )
    backtest = json.loads((tmp_path / "predictions" / "versions" / "v0002" / "backtest.json").read_text())
    assert backtest["version"] == "v0002" and backtest["churn_backtest"]["auc"] > 0.8


def test_loading_before_any_training_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no predictors trained yet"):
        PredictorStore(tmp_path / "predictions").load_current()


def test_backtest_rows_are_one_per_version_model_metric_and_group(tmp_path, trained):
    store = PredictorStore(tmp_path / "predictions")
    store.save(*trained)
    rows = backtest_rows(store.reports())
    assert set(rows["model"]) == {"pareto_nbd", "bg_nbd", "churn_classifier"}
    assert not rows.duplicated(["model_version", "model", "metric", "group_number"]).any()
    deciles = rows[(rows["model"] == "pareto_nbd") & (rows["metric"] == "decile_actual")]
    total = rows[(rows["model"] == "pareto_nbd") & (rows["metric"] == "actual_total")]["value"].item()
    assert deciles["group_number"].tolist() == list(range(1, 11)) and deciles["value"].sum() == total
    assert backtest_rows([]).empty and list(backtest_rows([]).columns) == list(rows.columns)


def test_risk_bands_must_be_ordered():
    with pytest.raises(ValueError, match="0 < medium < high < 1"):
        RiskBands(medium=0.8, high=0.5)


def test_no_predictions_has_the_columns():
    assert list(no_predictions().columns) == list(PREDICTION_COLUMNS) and no_predictions().empty


def test_a_classifier_no_better_than_the_purchase_model_is_not_kept(tables):
    """Older moments whose rows say nothing about what followed (their labels shuffled) teach the classifier
    nothing; on the latest moment the purchase model ranks better, so it answers, and the note says why."""
    current, history = tables
    older = history["snapshot_number"] > 1
    noise = history.copy()
    noise.loc[older, "purchase_days_next"] = (
        noise.loc[older, "purchase_days_next"].sample(frac=1.0, random_state=1).to_numpy()
    )
    *_, churn, report = train_predictors(current, noise)
    assert churn is None and report.churn_source == "purchase_model"
    assert report.churn_backtest.auc > 0.7  # the purchase model's own, on the latest moment
    assert any("the classifier's Brier score" in note for note in report.notes)
