"""The churn classifier on a customer base drawn from a known process (`synthetic.py`): it ranks, its
probabilities are calibrated, it refuses what it cannot learn from, and a saved model is read back only by the
scikit-learn that wrote it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.transforms.predict.synthetic import feature_tables
from transforms.predict.churn import (
    FEATURES,
    ChurnModel,
    ModelOutdated,
    NotEnoughHistory,
    calibration_table,
    churn_backtest,
    fit_churn,
    risk_band,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return feature_tables(customers=2000, snapshots=3)[1]


@pytest.fixture(scope="module")
def backtested(history):
    return churn_backtest(history, window_days=90)


def test_backtest_trains_on_older_moments_and_scores_the_latest(backtested, history):
    model, result = backtested
    assert result.scored_as_of == "2026-04-01"  # snapshot 1: 90 days before 2026-06-30
    assert model.trained_on == ("2025-10-03", "2026-01-01")
    assert model.rows == 1935 and result.customers == 1683  # the buyers at each moment
    assert result.auc > 0.85  # the truth is learnable: leavers fall silent and stop visiting
    assert result.brier < result.brier_of_base_rate  # better than predicting the churn rate for everyone


def test_probabilities_are_calibrated(backtested):
    _, result = backtested
    assert model_groups_are_ordered(result.calibration)
    assert {row.customers for row in result.calibration} == {168, 169}
    gaps = [abs(row.mean_predicted - row.observed_rate) for row in result.calibration]
    assert np.mean(gaps) < 0.06  # the expected calibration error over equal groups
    assert max(gaps) < 0.15  # no group far off (168 customers: a standard error of up to 0.04)


def model_groups_are_ordered(rows) -> bool:
    predicted = [r.mean_predicted for r in rows]
    return predicted == sorted(predicted) and rows[0].observed_rate < rows[-1].observed_rate


def test_only_buyers_are_trained_on_and_scored(history):
    never_bought = history.head(200).assign(purchase_days=0, frequency=None, recency_days=None, t_days=None)
    model = fit_churn(pd.concat([never_bought, history.iloc[200:]]), window_days=90)
    assert model.rows == len(history) - 200
    assert model.predict(history.head(5)).between(0, 1).all()


def test_too_little_history_is_refused_with_the_reason(history):
    few = history[history["snapshot_number"] == 2].head(30)
    with pytest.raises(NotEnoughHistory, match=r"30 buyers, \d+ of whom did not buy again"):
        fit_churn(few, window_days=90)
    with pytest.raises(NotEnoughHistory):  # one moment: nothing older to train the backtest on
        churn_backtest(history[history["snapshot_number"] == 1], window_days=90)


def test_the_rows_order_does_not_change_the_model(history):
    """A warehouse returns a table's rows in no fixed order (DuckDB scans in parallel): the model is the same."""
    shuffled = history.sample(frac=1.0, random_state=3)
    newest = history[history["as_of"] == history["as_of"].max()]
    assert fit_churn(history, window_days=90).predict(newest).tolist() == (
        fit_churn(shuffled, window_days=90).predict(newest).tolist()
    )


def test_a_saved_model_reads_back_and_predicts_the_same(tmp_path, history):
    model = fit_churn(history, window_days=90)
    model.save(tmp_path)
    meta = json.loads((tmp_path / "churn.json").read_text())
    assert meta["features"] == list(FEATURES) and meta["window_days"] == 90
    assert meta["calibration_method"] == "isotonic"  # over 1,000 of each outcome (the backtest's model had fewer)
    again = ChurnModel.load(tmp_path)
    assert np.array_equal(again.predict(history.head(50)).to_numpy(), model.predict(history.head(50)).to_numpy())


def test_a_model_from_another_scikit_learn_is_not_trusted(tmp_path, history):
    fit_churn(history, window_days=90).save(tmp_path)
    meta = json.loads((tmp_path / "churn.json").read_text())
    meta["libraries"]["scikit-learn"] = "0.24.2"
    (tmp_path / "churn.json").write_text(json.dumps(meta))
    with pytest.raises(ModelOutdated, match="saved by scikit-learn 0.24.2.*tessera train-predictors"):
        ChurnModel.load(tmp_path)


def test_calibration_table_has_equal_groups_lowest_first():
    table = calibration_table(np.linspace(0, 1, 100), np.r_[np.zeros(50), np.ones(50)], groups=4)
    assert [r.customers for r in table] == [25, 25, 25, 25]
    assert [r.observed_rate for r in table] == [0.0, 0.0, 1.0, 1.0]


def test_risk_bands_start_at_their_thresholds():
    probability = pd.Series([0.1, 0.5, 0.79, 0.8, None])
    assert risk_band(probability, 0.5, 0.8).tolist()[:4] == ["low", "medium", "medium", "high"]
    assert pd.isna(risk_band(probability, 0.5, 0.8).iloc[4])
