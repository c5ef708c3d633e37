"""The models against the published CDNOW figures, and their JSON form.

Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the Pareto/NBD model",
Marketing Science 24(2), fit the CDNOW 1/10th sample (2,357 customers) in weeks, calibration 1997-01-01 to
1997-09-30: BG/NBD r = 0.243, α = 4.414, a = 0.793, b = 2.426. The Pareto/NBD maximum-likelihood estimates on
the same data (Fader & Hardie's MATLAB note on the Pareto/NBD, and the reference values in pymc-marketing's
tests): r = 0.5534, α = 10.5802, s = 0.6061, β = 11.6562. Fader & Hardie's Gamma-Gamma note (2013) on the same customers' repeat spend:
p = 6.25, q = 3.74, γ = 15.44 (also the values in the `lifetimes` documentation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transforms.predict.btyd import (
    FittedModel,
    ModelFitError,
    PurchaseModel,
    SpendModel,
    TrainingWindow,
    customer_lifetime_value,
    fit_purchases,
    fit_spend,
)
from transforms.predict.cdnow import CALIBRATION_END, HOLDOUT_WEEKS, read_cdnow
from transforms.predict.rfm import calibration_and_holdout

pytestmark = pytest.mark.unit

PAPER_BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PAPER_PARETO_NBD = {"r": 0.5534, "alpha": 10.5802, "s": 0.6061, "beta": 11.6562}
PAPER_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def sample_summary() -> pd.DataFrame:
    return calibration_and_holdout(read_cdnow("sample"), CALIBRATION_END, HOLDOUT_WEEKS, unit="weeks")


@pytest.fixture(scope="module")
def bg_nbd(sample_summary) -> PurchaseModel:
    return fit_purchases(sample_summary, CALIBRATION_END, kind="bg_nbd")


@pytest.fixture(scope="module")
def gamma_gamma(sample_summary) -> SpendModel:
    return fit_spend(sample_summary, CALIBRATION_END)


def test_the_summary_is_the_papers(sample_summary):
    """`lifetimes` also ships the paper's own summary of the sample (x, t_x, T to two decimals)."""
    from importlib.resources import files

    with (files("lifetimes") / "datasets" / "cdnow_customers_summary.csv").open() as handle:
        published = pd.read_csv(handle).set_index("ID")
    assert len(sample_summary) == len(published) == 2357
    assert int((sample_summary["frequency"] > 0).sum()) == 946  # the paper's repeat customers
    assert (sample_summary["frequency"] == published["frequency"]).all()
    for column in ("recency", "T"):
        assert (sample_summary[column] - published[column]).abs().max() < 0.005, column


def test_bg_nbd_reproduces_the_papers_table(bg_nbd):
    for name, published in PAPER_BG_NBD.items():
        assert bg_nbd.params[name] == pytest.approx(published, rel=0.02), name


def test_pareto_nbd_reproduces_the_papers_estimates(sample_summary):
    model = fit_purchases(sample_summary, CALIBRATION_END, kind="pareto_nbd")
    for name, published in PAPER_PARETO_NBD.items():
        assert model.params[name] == pytest.approx(published, rel=0.02), name


def test_gamma_gamma_reproduces_the_published_estimates(gamma_gamma):
    for name, published in PAPER_GAMMA_GAMMA.items():
        assert gamma_gamma.params[name] == pytest.approx(published, rel=0.02), name
    assert gamma_gamma.window.repeat_customers == 946


def test_forecasts_behave_as_the_model_says(bg_nbd, sample_summary):
    expected = bg_nbd.expected_purchases(sample_summary, HOLDOUT_WEEKS)
    alive = bg_nbd.p_alive(sample_summary)
    assert expected.index.equals(sample_summary.index)
    assert (expected >= 0).all() and ((alive >= 0) & (alive <= 1)).all()
    # BG/NBD: a customer with no repeat purchase cannot have dropped out
    assert (alive[sample_summary["frequency"] == 0] == 1.0).all()
    # the 39-week holdout: 1,882 repeat purchases; BG/NBD forecasts 1,653 of them
    assert int(sample_summary["holdout_purchases"].sum()) == 1882
    assert expected.sum() == pytest.approx(1653, rel=0.02)
    # doubling the horizon forecasts more, but less than twice as much (customers drop out)
    longer = bg_nbd.expected_purchases(sample_summary, 2 * HOLDOUT_WEEKS)
    assert (longer >= expected).all() and longer.sum() < 2 * expected.sum()


def test_clv_is_purchases_times_spend_and_discounting_lowers_it(bg_nbd, gamma_gamma, sample_summary):
    clv = customer_lifetime_value(bg_nbd, gamma_gamma, sample_summary, HOLDOUT_WEEKS)
    product = bg_nbd.expected_purchases(sample_summary, HOLDOUT_WEEKS) * gamma_gamma.expected_spend(sample_summary)
    np.testing.assert_allclose(clv.to_numpy(), product.to_numpy())
    discounted = customer_lifetime_value(bg_nbd, gamma_gamma, sample_summary, HOLDOUT_WEEKS, discount_rate=0.01)
    assert (discounted <= clv + 1e-9).all() and discounted.sum() < 0.9 * clv.sum()
    # Gamma-Gamma gives customers with no repeat purchase the population mean, p·γ / (q − 1)
    p, q, v = (gamma_gamma.params[k] for k in ("p", "q", "v"))
    one_timers = gamma_gamma.expected_spend(sample_summary)[sample_summary["frequency"] == 0]
    assert np.allclose(one_timers, p * v / (q - 1))


def test_models_round_trip_through_json(tmp_path, bg_nbd, gamma_gamma, sample_summary):
    for model in (bg_nbd, gamma_gamma):
        loaded = FittedModel.load(model.save(tmp_path / f"{model.kind}.json"))
        assert type(loaded) is type(model)
        assert loaded == model
        assert loaded.window.calibration_end == CALIBRATION_END and loaded.window.unit == "weeks"
        assert set(loaded.libraries) == {"lifetimes", "numpy", "pandas", "scipy"}
    loaded = FittedModel.load(tmp_path / "bg_nbd.json")
    pd.testing.assert_series_equal(
        loaded.expected_purchases(sample_summary, 10), bg_nbd.expected_purchases(sample_summary, 10)
    )


def test_unreadable_model_file_names_the_file(tmp_path):
    path = tmp_path / "model.json"
    path.write_text('{"format": "tessera-btyd-model", "kind": "bg_nbd"}')
    with pytest.raises(ValueError, match="model.json"):
        FittedModel.load(path)


def test_spend_fit_refuses_non_positive_spend(sample_summary):
    broken = sample_summary.copy()
    broken.loc[broken.index[broken["frequency"] > 0][0], "monetary_value"] = 0.0
    with pytest.raises(ModelFitError, match="mean spend <= 0"):
        fit_spend(broken, CALIBRATION_END)


def test_pareto_nbd_is_exact_for_a_purchase_on_the_cut_off_day():
    """A_0 vanishes when recency equals T: with parameters where rounding made it NaN, such customers get
    p_alive 1 and finite forecasts, and the same as a purchase a moment before the cut-off."""
    model = PurchaseModel(
        kind="pareto_nbd",
        params={"r": 1.27, "alpha": 32.34, "s": 109.37, "beta": 48606.63},
        window=TrainingWindow(calibration_end="2026-06-30", unit="days", customers=3, repeat_customers=3),
    )
    summary = pd.DataFrame({"frequency": [2, 13, 14], "recency": [154.0, 212.0, 336.0], "T": [154.0, 212.0, 336.0]})
    assert (model.p_alive(summary) == 1.0).all()
    expected = model.expected_purchases(summary, 90)
    nearly = model.expected_purchases(summary.assign(recency=summary["recency"] - 1e-3), 90)
    assert np.isfinite(expected).all() and np.allclose(expected, nearly, rtol=1e-3)
    assert model.probability_of_no_purchase(summary, 90).between(0, 1).all()


def test_bg_nbd_forecasts_customers_without_a_repeat_purchase_when_a_plus_b_is_below_one():
    """With a + b < 1 (a fit on 50 buyers gave it) the library's forecast was NaN for every customer with no
    repeat purchase; it is defined, and grows with the horizon, and is the library's where that is finite."""
    from lifetimes import BetaGeoFitter

    params = {"r": 1.2741, "alpha": 59.7372, "a": 0.0687, "b": 0.7434}
    model = PurchaseModel(
        kind="bg_nbd",
        params=params,
        window=TrainingWindow(calibration_end="2026-01-03", unit="days", customers=4, repeat_customers=2),
    )
    summary = pd.DataFrame({"frequency": [0, 0, 2, 5], "recency": [0.0, 0.0, 30.0, 60.0], "T": [74.0, 9.0, 80.0, 90.0]})
    ninety, year = model.expected_purchases(summary, 90), model.expected_purchases(summary, 365)
    assert np.isfinite(ninety).all() and (ninety > 0).all() and (year > ninety).all()
    library = BetaGeoFitter()
    library.params_ = pd.Series(params, index=["r", "alpha", "a", "b"])
    columns = [summary[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T")]
    with np.errstate(all="ignore"):
        theirs = np.asarray(library.conditional_expected_number_of_purchases_up_to_time(90, *columns))
    assert np.isnan(theirs[:2]).all()  # what the library gave
    np.testing.assert_allclose(ninety.to_numpy()[2:], theirs[2:], rtol=1e-9)
