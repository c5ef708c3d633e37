"""Buy-till-you-die models: repeat purchases (BG/NBD or Pareto/NBD) and spend (Gamma-Gamma), and CLV.

This is the one module that imports `lifetimes`; everything else sees `PurchaseModel` and `SpendModel`, which
hold plain parameters and serialise to JSON with their training window and library versions. Swapping the
fitting library touches this module only. `lifetimes` is unmaintained, but its fitters are small, exact
(they reproduce Fader, Hardie & Lee 2005 to three decimals) and run on numpy 2 / pandas 3; its utilities do
not, so the RFM summary comes from `transforms.predict.rfm`.

Which purchase model is the project's forecast. Both models assume Poisson purchasing while alive, with
gamma-distributed rates, and differ in how customers drop out:

- BG/NBD (Fader, Hardie & Lee 2005) lets a customer drop out only just after a purchase, so a customer with
  no repeat purchase is, by construction, still alive; its `p_alive` is 1 for every one-time buyer.
- Pareto/NBD (Schmittlein, Morrison & Colombo 1987) lets a customer drop out at any time, with an
  exponential lifetime whose rate is gamma-distributed across customers.

BG/NBD was made as a cheaper approximation of Pareto/NBD. Fitting the latter takes about a second for
CDNOW's 23,570 customers (fits run once per distinct (frequency, recency, T) pattern, 8,685 there), which is
nothing in a nightly batch, so the project forecasts with Pareto/NBD
(`DEFAULT_PURCHASE_MODEL`) and keeps BG/NBD as the reference. On the whole CDNOW cohort (23,570 customers),
with the paper's split (calibration to 1997-09-30, 39-week holdout), plain BG/NBD forecasts 14.3 % too few
purchases and Pareto/NBD 12.9 % too few, with per-customer MAEs of 0.819 and 0.794. With the calibration
ending at week 26, 32, 45 or 52 instead (`benchmarks/predictions.py`), Pareto/NBD again has the smaller MAE
and the smaller total error each time, and wins both on every one of 1,000 paired customer resamples except
at week 52, where the two totals are within 2.5 % of the actual and of each other (a coin toss). With less
history than that (calibration ending while customers are still being acquired) both are poor and
Pareto/NBD's total is worse; the benchmark can show those cut-offs too.

A residual correction learned inside the calibration period (fit on weeks 1–26, learn on 27–39) was
rejected: on CDNOW, BG/NBD *over*-forecasts the in-sample weeks 27–39 by 5 % while it under-forecasts the
real holdout by 14 %, because repeat buying picks up again after the cut-off: October to December 1997 and
March 1998 each have more repeat purchase days (2,400 to 2,700) than August or September 1997 (2,200), and
nothing in the calibration period foreshadows it. A correction learned in-sample moves the forecast the wrong
way; what the holdout needs cannot be learned without peeking at it.

Times (`recency`, `T`, horizons) are in the unit of the summary the model was fitted on (`window.unit`).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

PurchaseModelKind = Literal["bg_nbd", "pareto_nbd"]

#: The project's forecast of repeat purchases (see the module docstring for why).
DEFAULT_PURCHASE_MODEL: PurchaseModelKind = "pareto_nbd"

#: Parameter names per model, in the fitting library's order.
PARAMETERS: dict[str, tuple[str, ...]] = {
    "bg_nbd": ("r", "alpha", "a", "b"),
    "pareto_nbd": ("r", "alpha", "s", "beta"),
    "gamma_gamma": ("p", "q", "v"),
}

MODEL_FORMAT = "tessera-btyd-model"


class ModelFitError(RuntimeError):
    """A fit did not give usable parameters; the message says which model and on what data."""


@dataclass(frozen=True)
class TrainingWindow:
    """What a model was fitted on: the summary's cut-off and unit, and its size."""

    calibration_end: str
    unit: str
    customers: int
    repeat_customers: int


@dataclass(frozen=True)
class FittedModel:
    """A fitted model's parameters and provenance, as they are written to and read from JSON."""

    kind: str
    params: dict[str, float]
    window: TrainingWindow
    fit_seconds: float | None = None
    libraries: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": MODEL_FORMAT, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write the model's JSON to `path` atomically (a reader never sees half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str = "model") -> FittedModel:
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"{where}: format is {doc.get('format')!r}, expected {MODEL_FORMAT!r}")
        kind = str(doc["kind"])
        if kind not in PARAMETERS:
            raise ValueError(f"{where}: kind {kind!r} is not one of {sorted(PARAMETERS)}")
        params = {name: float(doc["params"][name]) for name in PARAMETERS[kind]}
        model_class = SpendModel if kind == "gamma_gamma" else PurchaseModel
        return model_class(
            kind=kind,
            params=params,
            window=TrainingWindow(**doc["window"]),
            fit_seconds=doc.get("fit_seconds"),
            libraries=dict(doc.get("libraries", {})),
        )

    @classmethod
    def load(cls, path: str | Path) -> FittedModel:
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), where=str(path))
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable {MODEL_FORMAT} file ({exc!r})") from exc


@functools.cache
def _bg_nbd_fitter():
    """`lifetimes`' BG/NBD fitter, whose forecast is defined wherever the model is.

    The forecast (Fader, Hardie & Lee 2005, eq. 10) holds a Gaussian hypergeometric term that the library takes
    the log of. When a + b < 1 (a fit on few buyers can give it), that term is negative for customers with no
    repeat purchase, its log is NaN, and so was their forecast; the term is used as it is here.
    """
    from lifetimes import BetaGeoFitter
    from scipy.special import hyp2f1

    class BgNbd(BetaGeoFitter):
        def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T):
            x = np.asarray(frequency, dtype="float64")
            r, alpha, a, b = self._unload_params("r", "alpha", "a", "b")
            c, z = a + b + x - 1, t / (alpha + T + t)
            term = hyp2f1(r + x, b + x, c, z)
            # the equivalent Euler transform where the direct series overflows
            alternative = hyp2f1(c - r - x, c - b - x, c, z) * (1 - z) ** (c - r - x - b - x)
            term = np.where(np.isinf(term), alternative, term)
            numerator = (a + b + x - 1) / (a - 1) * (1 - term * ((alpha + T) / (alpha + t + T)) ** (r + x))
            repeat = np.where(x > 0, a / np.where(x > 0, b + x - 1, 1.0), 0.0)
            return numerator / (1 + repeat * ((alpha + T) / (alpha + recency)) ** (r + x))

    return BgNbd


@functools.cache
def _pareto_nbd_fitter():
    """`lifetimes`' Pareto/NBD fitter, exact for customers whose last purchase is on the cut-off day.

    Its A_0 term (Fader & Hardie's note 9, eq. 19) is a difference of two terms that are equal when recency
    equals T, so A_0 is 0 there; rounding can leave the difference a hair below 0, whose log is NaN, and
    then `p_alive` and every forecast of such a customer were NaN. A_0 = 0 (log -inf) is the exact value.
    The library calls the term through the class by name, so the likelihood is re-declared here to use it.
    """
    from lifetimes import ParetoNBDFitter
    from numpy import log, logaddexp
    from scipy.special import gammaln

    class ParetoNBD(ParetoNBDFitter):
        @staticmethod
        def _log_A_0(params, freq, recency, age):
            value = ParetoNBDFitter._log_A_0(params, freq, recency, age)
            return np.where(np.isnan(value) & (np.asarray(recency) == np.asarray(age)), -np.inf, value)

        @staticmethod
        def _conditional_log_likelihood(params, freq, rec, T):
            r, alpha, s, beta = params
            a_1 = gammaln(r + freq) - gammaln(r) + r * log(alpha) + s * log(beta)
            log_a_0 = ParetoNBD._log_A_0(params, freq, rec, T)
            a_2 = logaddexp(-(r + freq) * log(alpha + T) - s * log(beta + T), log(s) + log_a_0 - log(r + s + freq))
            return a_1 + a_2

        @staticmethod
        def _negative_log_likelihood(params, freq, rec, T, weights, penalizer_coef):
            if np.any(np.asarray(params) <= 0.0):
                return np.inf
            likelihood = ParetoNBD._conditional_log_likelihood(params, freq, rec, T)
            return -(weights * likelihood).sum() / weights.mean() + penalizer_coef * sum(np.asarray(params) ** 2)

    return ParetoNBD


def _columns(summary: pd.DataFrame, *names: str) -> list[np.ndarray]:
    """The summary's columns as arrays (by name: `summary.T` would be the transpose)."""
    missing = [n for n in names if n not in summary.columns]
    if missing:
        raise ValueError(f"the RFM summary lacks {missing}; it has {list(summary.columns)}")
    return [summary[n].to_numpy(dtype="float64") for n in names]


class PurchaseModel(FittedModel):
    """BG/NBD or Pareto/NBD: expected repeat purchases over a horizon, and the probability of being alive."""

    def _fitter(self):
        fitter = (_bg_nbd_fitter() if self.kind == "bg_nbd" else _pareto_nbd_fitter())()
        fitter.params_ = pd.Series(self.params, index=list(PARAMETERS[self.kind]))
        return fitter

    def expected_purchases(self, summary: pd.DataFrame, horizon: float) -> pd.Series:
        """Expected purchase days in the `horizon` after the cut-off, per customer of `summary`."""
        frequency, recency, age = _columns(summary, "frequency", "recency", "T")
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            values = self._fitter().conditional_expected_number_of_purchases_up_to_time(
                horizon, frequency, recency, age
            )
        return pd.Series(np.asarray(values, dtype="float64"), index=summary.index, name="expected_purchases")

    def p_alive(self, summary: pd.DataFrame) -> pd.Series:
        """The probability that each customer is still active at the cut-off."""
        frequency, recency, age = _columns(summary, "frequency", "recency", "T")
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            values = self._fitter().conditional_probability_alive(frequency, recency, age)
        return pd.Series(np.asarray(values, dtype="float64"), index=summary.index, name="p_alive")

    def probability_of_no_purchase(self, summary: pd.DataFrame, horizon: float) -> pd.Series:
        """The probability that each customer of `summary` makes no purchase in the `horizon` after the cut-off
        (Pareto/NBD's conditional distribution of purchases, Fader & Hardie's note 28, eq. 16)."""
        if self.kind != "pareto_nbd":
            raise ValueError(f"{self.kind}: only Pareto/NBD gives the probability of no purchase in a window")
        frequency, recency, age = _columns(summary, "frequency", "recency", "T")
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            values = self._fitter().conditional_probability_of_n_purchases_up_to_time(
                0, horizon, frequency, recency, age
            )
        values = np.clip(np.asarray(values, dtype="float64"), 0.0, 1.0)
        return pd.Series(values, index=summary.index, name="probability_of_no_purchase")


class SpendModel(FittedModel):
    """Gamma-Gamma: the expected spend per purchase, shrinking each customer's mean towards the population's."""

    def expected_spend(self, summary: pd.DataFrame) -> pd.Series:
        """Expected spend per future purchase; the population mean for customers with no repeat purchase."""
        frequency, monetary = _columns(summary, "frequency", "monetary_value")
        p, q, v = (self.params[k] for k in PARAMETERS["gamma_gamma"])
        values = (p * (v + frequency * monetary)) / (p * frequency + q - 1)
        return pd.Series(values, index=summary.index, name="expected_spend")


def library_versions() -> dict[str, str]:
    return {name: version(name) for name in ("lifetimes", "numpy", "pandas", "scipy")}


def _window(summary: pd.DataFrame, calibration_end: str, unit: str) -> TrainingWindow:
    return TrainingWindow(
        calibration_end=str(calibration_end),
        unit=unit,
        customers=len(summary),
        repeat_customers=int((summary["frequency"] > 0).sum()),
    )


def fit_purchases(
    summary: pd.DataFrame,
    calibration_end: str,
    unit: str = "weeks",
    kind: PurchaseModelKind = DEFAULT_PURCHASE_MODEL,
    penalizer: float = 0.0,
) -> PurchaseModel:
    """Fit BG/NBD or Pareto/NBD by maximum likelihood to an RFM summary (`rfm.rfm_summary`)."""
    if kind not in ("bg_nbd", "pareto_nbd"):
        raise ValueError(f"purchase model must be 'bg_nbd' or 'pareto_nbd', not {kind!r}")
    if summary.empty:
        raise ModelFitError(f"{kind}: the RFM summary as of {calibration_end} has no customers")
    # Customers with the same (frequency, recency, T) have the same likelihood: fit each pattern once,
    # weighted by its customers, as Fader and Hardie do, so the cost follows the distinct patterns.
    patterns = summary.groupby(["frequency", "recency", "T"], sort=False).size().reset_index(name="customers")
    frequency, recency, age, customers = _columns(patterns, "frequency", "recency", "T", "customers")
    fitter_class = _bg_nbd_fitter() if kind == "bg_nbd" else _pareto_nbd_fitter()
    started = time.perf_counter()
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        fitter = _converge(
            kind, calibration_end, len(summary), fitter_class, penalizer, frequency, recency, age, weights=customers
        )
    return _fitted(PurchaseModel, kind, fitter, summary, calibration_end, unit, time.perf_counter() - started)


def fit_spend(summary: pd.DataFrame, calibration_end: str, unit: str = "weeks", penalizer: float = 0.0) -> SpendModel:
    """Fit Gamma-Gamma to the repeat customers of an RFM summary (those with `frequency` > 0).

    Gamma-Gamma assumes spend is independent of purchase frequency; check that on new data
    (`spend_frequency_correlation`) before trusting CLV.
    """
    from lifetimes import GammaGammaFitter

    repeat = summary[summary["frequency"] > 0]
    if (repeat["monetary_value"] <= 0).any():
        raise ModelFitError(
            f"gamma_gamma: {int((repeat['monetary_value'] <= 0).sum())} repeat customers as of {calibration_end} "
            "have a mean spend <= 0; drop refunds or zero-value orders before summarising"
        )
    if len(repeat) < 2:
        raise ModelFitError(f"gamma_gamma: {len(repeat)} repeat customers as of {calibration_end}; need more")
    frequency, monetary = _columns(repeat, "frequency", "monetary_value")
    started = time.perf_counter()
    fitter = _converge("gamma_gamma", calibration_end, len(summary), GammaGammaFitter, penalizer, frequency, monetary)
    return _fitted(SpendModel, "gamma_gamma", fitter, summary, calibration_end, unit, time.perf_counter() - started)


#: Penalizers tried, in turn, when a maximum-likelihood fit does not converge (the library's own advice).
RETRY_PENALIZERS = (0.001, 0.01)


def _converge(kind, calibration_end, customers, fitter_class, penalizer, *args, **kwargs):
    """A fitted `fitter_class`, started from all parameters at 1 (the library would start from random ones, and
    two runs would differ). A fit that does not converge is tried again with a small penalizer; when none
    converges, a `ModelFitError` names the data."""
    from lifetimes.utils import ConvergenceError

    start = np.ones(len(PARAMETERS[kind]))
    for attempt in (penalizer, *(p for p in RETRY_PENALIZERS if p > penalizer)):
        fitter = fitter_class(penalizer_coef=attempt)
        try:
            fitter.fit(*args, initial_params=start, **kwargs)
        except ConvergenceError as exc:
            failure = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("%s as of %s did not converge with penalizer %s: %s", kind, calibration_end, attempt, failure)
            continue
        if attempt != penalizer:
            log.warning("%s as of %s converged with penalizer %s", kind, calibration_end, attempt)
        return fitter
    raise ModelFitError(
        f"{kind}: the fit on {customers} customers as of {calibration_end} did not converge, penalized or not ({failure})"
    )


def _fitted(model_class, kind, fitter, summary, calibration_end, unit, seconds):
    params = {name: float(fitter.params_[name]) for name in PARAMETERS[kind]}
    if not all(np.isfinite(v) and v > 0 for v in params.values()):
        raise ModelFitError(f"{kind}: the fit on {len(summary)} customers as of {calibration_end} gave {params}")
    model = model_class(
        kind=kind,
        params=params,
        window=_window(summary, calibration_end, unit),
        fit_seconds=round(seconds, 3),
        libraries=library_versions(),
    )
    log.info("fitted %s on %d customers as of %s in %.2f s: %s", kind, len(summary), calibration_end, seconds, params)
    return model


def spend_frequency_correlation(summary: pd.DataFrame) -> float:
    """Pearson correlation of frequency and mean spend among repeat customers: Gamma-Gamma wants it near 0."""
    repeat = summary[summary["frequency"] > 0]
    return float(np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1])


def customer_lifetime_value(
    purchases: PurchaseModel,
    spend: SpendModel,
    summary: pd.DataFrame,
    horizon: float,
    discount_rate: float = 0.0,
    steps: int = 12,
) -> pd.Series:
    """Expected spend over the `horizon` after the cut-off, per customer.

    Without discounting it is expected purchases × expected spend per purchase. With a `discount_rate` per
    unit of time, the horizon is cut into `steps` equal periods whose expected purchases are discounted from
    the end of each period.
    """
    per_purchase = spend.expected_spend(summary)
    if discount_rate == 0.0:
        return (purchases.expected_purchases(summary, horizon) * per_purchase).rename("clv")
    edges = np.linspace(0.0, horizon, steps + 1)
    cumulative = [purchases.expected_purchases(summary, t).to_numpy() if t else 0.0 for t in edges]
    value = sum((cumulative[i] - cumulative[i - 1]) / (1.0 + discount_rate) ** edges[i] for i in range(1, len(edges)))
    return pd.Series(value * per_purchase.to_numpy(), index=summary.index, name="clv")
