"""A training run on the CDNOW sample: its backtest is the paper's split, and it is kept as a version."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from transforms.predict.btyd import fit_purchases
from transforms.predict.cdnow import read_cdnow
from transforms.predict.model_store import ModelStore
from transforms.predict.rfm import rfm_summary
from transforms.predict.training import score_customers, train

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return read_cdnow("sample")


@pytest.fixture(scope="module")
def run(sample):
    # 39 weeks back from 1998-06-30 is 1997-09-30: the backtest is the paper's calibration and holdout
    return train(sample, "1998-06-30", holdout=39, unit="weeks")


def test_backtest_is_fitted_before_the_holdout_and_scored_on_it(run, sample):
    assert run.backtest_cutoff == "1997-09-30"
    bg = run.backtests["bg_nbd"]
    assert bg.customers == 2357 and bg.actual_total == 1882
    paper_fit = fit_purchases(rfm_summary(sample, "1997-09-30"), "1997-09-30", kind="bg_nbd")
    assert paper_fit.params["r"] == pytest.approx(0.243, rel=0.02)
    assert bg.predicted_total == pytest.approx(
        paper_fit.expected_purchases(rfm_summary(sample, "1997-09-30"), 39).sum()
    )
    assert set(run.backtests) == {"pareto_nbd", "bg_nbd"}
    assert sum(d.actual for d in run.backtests["pareto_nbd"].deciles) == 1882


def test_models_kept_are_fitted_on_everything_up_to_as_of(run):
    assert run.purchases.kind == "pareto_nbd" and run.purchases.window.calibration_end == "1998-06-30"
    assert run.spend.window.calibration_end == "1998-06-30"
    # more repeat customers by the end of the data than at the paper's cut-off (946)
    assert run.spend.window.repeat_customers > 946


def test_store_keeps_versions_and_loads_the_current_one(home, run, sample):
    store = ModelStore(home.root / "predictions")
    first, second = store.save(run), store.save(run)
    assert (first.name, second.name) == ("v0001", "v0002")
    assert sorted(p.name for p in second.iterdir()) == ["backtest.json", "purchases.json", "spend.json"]
    metrics = json.loads((second / "backtest.json").read_text())
    assert metrics["backtests"]["bg_nbd"]["actual_total"] == 1882
    assert [e["version"] for e in store.history()] == [1, 2]
    purchases, spend = store.load_current()
    assert purchases == run.purchases and spend == run.spend
    assert purchases.libraries["lifetimes"] == "0.11.3"

    summary = rfm_summary(sample, "1998-06-30")
    scores = score_customers(purchases, spend, summary, horizon=52)
    assert list(scores.columns) == ["expected_purchases", "p_alive", "expected_spend", "clv"]
    assert scores.index.equals(summary.index)
    assert (scores["clv"] - scores["expected_purchases"] * scores["expected_spend"]).abs().max() < 1e-9


def test_loading_before_any_training_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no prediction model trained yet"):
        ModelStore(tmp_path / "predictions").load_current()
