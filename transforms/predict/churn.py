"""The churn classifier: the probability that a customer who has bought makes no purchase in the next window.

The label is time-based: at a past moment (a row of `int_customer_feature_history`), a buyer "churned" when
they made no purchase in the `window_days` that followed. The classifier is scikit-learn's histogram gradient
boosting on the behavioural features of that moment, with its probabilities calibrated by cross-validation
(isotonic with enough rows, Platt's sigmoid with few), so that "0.7" means about 70 % of such customers did
not buy: a marketer can read the number, and a band (low, medium, high) cut from it means the same on every
run.

A backtest trains on older moments and scores a later one it never saw (`churn_backtest`): AUC for ranking,
the Brier score for the probabilities, and a calibration table (customers in ten groups of predicted
probability, the mean prediction against the share who did not buy).
"""

from __future__ import annotations

import pickle
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectors.durable import write_atomically

#: The features of `int_customer_purchase_features` the classifier reads, plus the days since the last
#: purchase day (derived, so a model sees "how long since" directly).
FEATURES: tuple[str, ...] = (
    "purchase_days",
    "recency_days",
    "t_days",
    "days_since_last_purchase",
    "monetary_value",
    "total_spend",
    "tenure_days",
    "email_opens_90d",
    "email_clicks_90d",
    "web_sessions_90d",
    "source_count",
)

#: Fewer rows of the smaller class than this and isotonic calibration overfits: Platt's sigmoid instead.
ISOTONIC_MIN_ROWS = 1000
#: Fits of fewer rows than this run on one thread (`_threads_for`).
PARALLEL_FROM_ROWS = 100_000
#: A classifier needs at least this many buyers of each outcome to be worth training.
MIN_ROWS_PER_CLASS = 20

MODEL_FORMAT = "tessera-churn-model"


class NotEnoughHistory(ValueError):
    """The history has too few buyers of one outcome to train or to backtest a classifier."""


class ModelOutdated(RuntimeError):
    """A saved classifier was written by another scikit-learn version, which cannot be trusted to read it."""


def buyers(features: pd.DataFrame) -> pd.DataFrame:
    """The rows of customers who had bought by their moment."""
    return features[features["purchase_days"] > 0]


def feature_matrix(features: pd.DataFrame) -> np.ndarray:
    """The classifier's input: the feature columns in `FEATURES` order, the derived one computed here."""
    columns = [c for c in FEATURES if c != "days_since_last_purchase"]
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"the features lack {missing}; they have {list(features.columns)}")
    frame = features[columns].astype("float64")
    frame["days_since_last_purchase"] = frame["t_days"] - frame["recency_days"]
    return frame[list(FEATURES)].to_numpy()


def churned(history: pd.DataFrame) -> np.ndarray:
    """The label: 1 when the customer made no purchase in the window after the moment."""
    return (history["purchase_days_next"].to_numpy() == 0).astype("int64")


@dataclass(frozen=True)
class CalibrationRow:
    group: int  # 1 holds the lowest predictions
    customers: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class ChurnBacktest:
    """How a classifier trained on older moments did on a later one."""

    trained_on: tuple[str, ...]  # the moments (as_of) trained on
    scored_as_of: str
    customers: int
    churn_rate: float
    auc: float
    brier: float
    brier_of_base_rate: float  # the Brier score of predicting the training churn rate for everyone
    calibration: tuple[CalibrationRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChurnModel:
    """A fitted, calibrated classifier and what it was trained on."""

    estimator: Any
    window_days: int
    trained_on: tuple[str, ...]
    rows: int
    churn_rate: float
    calibration_method: str
    libraries: dict[str, str] = field(default_factory=dict)

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """The probability of no purchase in the next `window_days`, per row of `features` (buyers only)."""
        if features.empty:
            return pd.Series([], index=features.index, dtype="float64", name="churn_probability")
        with _threads_for(len(features)):
            probability = self.estimator.predict_proba(feature_matrix(features))[:, 1]
        return pd.Series(probability, index=features.index, name="churn_probability")

    def metadata(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "kind": "hist_gradient_boosting",
            "features": list(FEATURES),
            "window_days": self.window_days,
            "trained_on": list(self.trained_on),
            "rows": self.rows,
            "churn_rate": self.churn_rate,
            "calibration_method": self.calibration_method,
            "libraries": self.libraries,
        }

    def save(self, folder: Path) -> None:
        """`churn.json` (what a person reads) and `churn.pickle` (the estimator), each written atomically."""
        write_atomically(folder / "churn.pickle", pickle.dumps(self.estimator, protocol=5))
        write_atomically(folder / "churn.json", _json(self.metadata()))

    @classmethod
    def load(cls, folder: Path) -> ChurnModel:
        import json

        meta = json.loads((folder / "churn.json").read_text(encoding="utf-8"))
        if meta.get("format") != MODEL_FORMAT:
            raise ValueError(f"{folder / 'churn.json'}: format is {meta.get('format')!r}, expected {MODEL_FORMAT!r}")
        if list(meta["features"]) != list(FEATURES):
            raise ModelOutdated(f"{folder}: the classifier was trained on other features; train the predictors again")
        saved, installed = meta["libraries"].get("scikit-learn"), version("scikit-learn")
        if saved != installed:
            raise ModelOutdated(
                f"{folder}: the classifier was saved by scikit-learn {saved}, this is {installed}; "
                "train the predictors again (tessera train-predictors)"
            )
        estimator = pickle.loads((folder / "churn.pickle").read_bytes())  # noqa: S301 - our own file, checked above
        return cls(
            estimator=estimator,
            window_days=int(meta["window_days"]),
            trained_on=tuple(meta["trained_on"]),
            rows=int(meta["rows"]),
            churn_rate=float(meta["churn_rate"]),
            calibration_method=str(meta["calibration_method"]),
            libraries=dict(meta["libraries"]),
        )


def _json(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc, indent=2) + "\n"


def library_versions() -> dict[str, str]:
    return {name: version(name) for name in ("scikit-learn", "numpy", "scipy")}


def _check_trainable(history: pd.DataFrame, what: str) -> np.ndarray:
    labels = churned(history)
    smaller = min(int(labels.sum()), int(len(labels) - labels.sum()))
    if smaller < MIN_ROWS_PER_CLASS:
        raise NotEnoughHistory(
            f"{what}: {len(labels)} buyers, {int(labels.sum())} of whom did not buy again in the window; "
            f"a classifier needs at least {MIN_ROWS_PER_CLASS} of each outcome"
        )
    return labels


def fit_churn(history: pd.DataFrame, window_days: int, seed: int = 0) -> ChurnModel:
    """Fit the calibrated classifier on labelled moments (rows of `int_customer_feature_history`)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier

    # The same rows in any order make the same model: the calibration folds and the early-stopping split
    # are drawn by position, and a warehouse hands a table's rows in no fixed order.
    rows = buyers(history).sort_values(["as_of", "customer_id"], kind="stable", ignore_index=True)
    moments = tuple(sorted({f"{pd.Timestamp(t):%Y-%m-%d}" for t in rows["as_of"]}))
    labels = _check_trainable(rows, f"training on {', '.join(moments) or 'no moment'}")
    smaller = min(int(labels.sum()), int(len(labels) - labels.sum()))
    method = "isotonic" if smaller >= ISOTONIC_MIN_ROWS else "sigmoid"
    booster = HistGradientBoostingClassifier(
        learning_rate=0.1, max_iter=200, max_leaf_nodes=15, min_samples_leaf=40, l2_regularization=1.0,
        early_stopping=True, validation_fraction=0.15, n_iter_no_change=10, random_state=seed,
    )  # fmt: skip
    estimator = CalibratedClassifierCV(booster, method=method, cv=3)
    with _threads_for(len(rows)):
        estimator.fit(feature_matrix(rows), labels)
    return ChurnModel(
        estimator=estimator,
        window_days=int(window_days),
        trained_on=moments,
        rows=len(rows),
        churn_rate=float(labels.mean()),
        calibration_method=method,
        libraries=library_versions(),
    )


def _threads_for(rows: int):
    """One thread below `PARALLEL_FROM_ROWS` rows: a small fit is quicker alone than with OpenMP threads, which
    spin while they wait and crawl on a busy machine; big fits use every core."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1 if rows < PARALLEL_FROM_ROWS else None, user_api="openmp")


def evaluate(
    probability: np.ndarray, labels: np.ndarray, base_rate: float, trained_on: tuple[str, ...], scored_as_of: str
) -> ChurnBacktest:
    """AUC, Brier score and a calibration table of `probability` against what happened (`labels`)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    if len(set(labels.tolist())) < 2:
        raise NotEnoughHistory(f"scoring {scored_as_of}: every buyer had the same outcome; AUC is undefined")
    return ChurnBacktest(
        trained_on=trained_on,
        scored_as_of=scored_as_of,
        customers=len(labels),
        churn_rate=float(labels.mean()),
        auc=float(roc_auc_score(labels, probability)),
        brier=float(brier_score_loss(labels, probability)),
        brier_of_base_rate=float(brier_score_loss(labels, np.full(len(labels), base_rate))),
        calibration=calibration_table(probability, labels),
    )


def calibration_table(probability: np.ndarray, labels: np.ndarray, groups: int = 10) -> tuple[CalibrationRow, ...]:
    """Customers ranked by prediction (lowest first) in `groups` near-equal groups: mean prediction, observed rate."""
    order = np.argsort(probability, kind="stable")
    group = np.empty(len(order), dtype="int64")
    group[order] = (np.arange(len(order)) * groups) // max(len(order), 1)
    frame = pd.DataFrame({"group": group + 1, "p": probability, "y": labels})
    table = frame.groupby("group").agg(customers=("p", "size"), mean_predicted=("p", "mean"), observed=("y", "mean"))
    return tuple(
        CalibrationRow(int(g), int(r.customers), float(r.mean_predicted), float(r.observed))
        for g, r in table.iterrows()
    )


def churn_backtest(history: pd.DataFrame, window_days: int, seed: int = 0) -> tuple[ChurnModel, ChurnBacktest]:
    """Train on every moment but the latest of `history`, score the latest: the classifier's backtest."""
    latest = history["as_of"].max()
    older, newest = history[history["as_of"] < latest], buyers(history[history["as_of"] == latest])
    model = fit_churn(older, window_days, seed)
    labels = _check_trainable(newest, f"scoring {pd.Timestamp(latest):%Y-%m-%d}")
    probability = model.predict(newest).to_numpy()
    return model, evaluate(probability, labels, model.churn_rate, model.trained_on, f"{pd.Timestamp(latest):%Y-%m-%d}")


def risk_band(probability: pd.Series, medium: float, high: float) -> pd.Series:
    """`low`, `medium` (from `medium` on) or `high` (from `high` on); missing where the probability is."""
    band = np.where(probability >= high, "high", np.where(probability >= medium, "medium", "low"))
    return pd.Series(band, index=probability.index, dtype=object).where(probability.notna())
