"""The predictors the warehouse scores with: trained from its feature tables, kept as versions, scored cheaply.

Training (`train_predictors`) reads two dbt models: `int_customer_purchase_features` (every customer now) and
`int_customer_feature_history` (the same features one, two, … windows of `WINDOW_DAYS` earlier, with what each
customer did next). It keeps:

- the purchase model (Pareto/NBD) and the spend model (Gamma-Gamma), fitted on the customers as they are now,
  in days, and backtested by fitting them again as of one window ago and forecasting that window;
- the churn classifier (`churn.py`), trained on every labelled moment and backtested by training on all but
  the latest moment and scoring the latest. With less history than two windows it cannot be trained: the
  churn probability then comes from the purchase model (the probability of no purchase in the window given
  each customer's history, which Pareto/NBD gives in closed form), and the training run says so.

Scoring (`score`) needs the saved models and the current features only: no fitting, seconds for a million
customers. Customers who have never bought get no prediction (the models describe buyers).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectors.durable import write_atomically
from transforms.model_versions import ModelVersions
from transforms.predict.backtest import Backtest, backtest
from transforms.predict.btyd import (
    DEFAULT_PURCHASE_MODEL,
    FittedModel,
    ModelFitError,
    PurchaseModel,
    SpendModel,
    customer_lifetime_value,
    fit_purchases,
    fit_spend,
)
from transforms.predict.churn import (
    ChurnBacktest,
    ChurnModel,
    NotEnoughHistory,
    buyers,
    churn_backtest,
    churned,
    evaluate,
    fit_churn,
    risk_band,
)

log = logging.getLogger(__name__)

#: The forecast windows, in days: orders over 90 and 365 days, CLV over 365, churn over 90 (the label window of
#: `int_customer_feature_history`, which the column names carry).
WINDOW_DAYS, YEAR_DAYS = 90, 365
BASELINE_PURCHASE_MODEL = "bg_nbd"

#: The columns of `marts.customer_predictions`, in order.
PREDICTION_COLUMNS = (
    "customer_id",
    "as_of",
    "p_alive",
    "expected_orders_90d",
    "expected_orders_365d",
    "predicted_clv_365d",
    "churn_probability_90d",
    "churn_risk",
    "model_version",
)


@dataclass(frozen=True)
class RiskBands:
    """Where the churn bands start: `medium` from this probability on, `high` from that one."""

    medium: float = 0.5
    high: float = 0.8

    def __post_init__(self) -> None:
        if not 0.0 < self.medium < self.high < 1.0:
            raise ValueError(f"churn bands need 0 < medium < high < 1, got medium={self.medium}, high={self.high}")


@dataclass
class Predictors:
    """One version's models: what scoring needs."""

    version: str
    purchases: PurchaseModel
    spend: SpendModel
    churn: ChurnModel | None  # None: the churn probability comes from the purchase model


@dataclass
class TrainingReport:
    """What a training run kept and how it backtested, as `backtest.json` holds it."""

    as_of: str
    trained_at: str
    customers: int
    buyers: int
    purchase_backtests: dict[str, Backtest] = field(default_factory=dict)
    churn_backtest: ChurnBacktest | None = None
    churn_source: str = "classifier"  # or "purchase_model"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "trained_at": self.trained_at,
            "customers": self.customers,
            "buyers": self.buyers,
            "purchase_backtests": {kind: result.to_dict() for kind, result in self.purchase_backtests.items()},
            "churn_backtest": self.churn_backtest.to_dict() if self.churn_backtest else None,
            "churn_source": self.churn_source,
            "notes": self.notes,
        }


def summary_in_days(features: pd.DataFrame) -> pd.DataFrame:
    """The RFM summary (`rfm.py`'s columns, in days) of the buyers among feature rows, indexed by customer."""
    rows = features[features["purchase_days"] > 0]
    summary = pd.DataFrame(
        {
            "frequency": rows["frequency"].to_numpy(dtype="int64"),
            "recency": rows["recency_days"].to_numpy(dtype="float64"),
            "T": rows["t_days"].to_numpy(dtype="float64"),
            "monetary_value": rows["monetary_value"].to_numpy(dtype="float64"),
        },
        index=pd.Index(rows["customer_id"].to_numpy(), name="customer_id"),
    )
    return summary


def _moment(value: Any) -> str:
    return f"{pd.Timestamp(value):%Y-%m-%d}"


def train_predictors(
    current: pd.DataFrame, history: pd.DataFrame, purchase_model: str = DEFAULT_PURCHASE_MODEL, seed: int = 0
) -> tuple[PurchaseModel, SpendModel, ChurnModel | None, TrainingReport]:
    """Fit and backtest the models on the two feature tables (see the module doc); raises `NotEnoughHistory`
    when there are too few buyers, or too few repeat buyers, to fit even the purchase model."""
    as_of = current["as_of"].dropna().max()
    if pd.isna(as_of):
        raise NotEnoughHistory("the features hold no activity at all: nothing to train on")
    report = TrainingReport(
        as_of=_moment(as_of),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        customers=len(current),
        buyers=int((current["purchase_days"] > 0).sum()),
    )
    summary = summary_in_days(current)
    try:
        purchases = fit_purchases(summary, report.as_of, "days", kind=purchase_model)
        spend = fit_spend(summary, report.as_of, "days")
    except ModelFitError as exc:
        raise NotEnoughHistory(f"as of {report.as_of}: {exc}") from exc

    labelled = history[history["snapshot_number"] >= 1] if len(history) else history
    latest = labelled[labelled["snapshot_number"] == 1] if len(labelled) else labelled
    fitted_then: dict[str, PurchaseModel] = {}
    if len(latest) and (latest["purchase_days"] > 0).sum():
        fitted_then = _backtest_purchases(latest, purchase_model, report)
    else:
        report.notes.append(
            f"no purchase backtest: the history holds no buyer {WINDOW_DAYS} days before {report.as_of}"
        )

    # The classifier is kept only where its backtest beats the purchase model's own churn probability on the
    # same moment (a lower Brier score): with few buyers or few moments it can do worse than that, or than the
    # base rate, and then the purchase model answers.
    churn: ChurnModel | None = None
    model_churn = _backtest_model_churn(latest, fitted_then.get("pareto_nbd"))
    try:
        _, classifier = churn_backtest(labelled, WINDOW_DAYS, seed)
    except NotEnoughHistory as exc:
        report.notes.append(
            f"churn probability from the purchase model, not the classifier: {exc} "
            f"(a classifier and its backtest need two labelled windows of {WINDOW_DAYS} days)"
        )
    else:
        benchmark = model_churn.brier if model_churn else classifier.brier_of_base_rate
        if classifier.brier < benchmark:
            churn, report.churn_backtest = fit_churn(labelled, WINDOW_DAYS, seed), classifier
        else:
            report.notes.append(
                f"churn probability from the purchase model, not the classifier: on {classifier.customers:,} buyers "
                f"as of {classifier.scored_as_of} the classifier's Brier score {classifier.brier:.3f} (AUC "
                f"{classifier.auc:.3f}) is no better than {benchmark:.3f}"
            )
    if churn is None:
        report.churn_source, report.churn_backtest = "purchase_model", model_churn
    return purchases, spend, churn, report


def _backtest_purchases(latest: pd.DataFrame, purchase_model: str, report: TrainingReport) -> dict[str, PurchaseModel]:
    """Fit as of one window ago, forecast the window, compare with what was bought (and plain BG/NBD too); the
    models fitted then, by kind."""
    fitted: dict[str, PurchaseModel] = {}
    summary = summary_in_days(latest)
    actual = pd.Series(latest["purchase_days_next"].to_numpy(), index=latest["customer_id"].to_numpy())
    cutoff = _moment(latest["as_of"].max())
    for kind in dict.fromkeys([purchase_model, BASELINE_PURCHASE_MODEL]):
        try:
            model = fit_purchases(summary, cutoff, "days", kind=kind)
        except ModelFitError as exc:
            report.notes.append(f"no {kind} backtest as of {cutoff}: {exc}")
            continue
        fitted[kind] = model
        report.purchase_backtests[kind] = backtest(
            model.expected_purchases(summary, WINDOW_DAYS), actual.reindex(summary.index, fill_value=0)
        )
    return fitted


def _backtest_model_churn(latest: pd.DataFrame, model: PurchaseModel | None) -> ChurnBacktest | None:
    """The purchase model's own churn probability, from the Pareto/NBD the purchase backtest fitted a window
    ago, scored on that window."""
    rows = buyers(latest)
    labels = churned(rows)
    if model is None or len(set(labels.tolist())) < 2:
        return None
    cutoff = model.window.calibration_end
    probability = model.probability_of_no_purchase(summary_in_days(rows), WINDOW_DAYS).to_numpy()
    return evaluate(probability, labels, float(labels.mean()), (cutoff,), cutoff)


def no_predictions() -> pd.DataFrame:
    """`marts.customer_predictions` with no row, its columns typed, for a build that has nothing to score with."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype="string"),
            "as_of": pd.Series([], dtype="datetime64[us, UTC]"),
            **{
                column: pd.Series([], dtype="float64")
                for column in (
                    "p_alive",
                    "expected_orders_90d",
                    "expected_orders_365d",
                    "predicted_clv_365d",
                    "churn_probability_90d",
                )
            },  # fmt: skip
            "churn_risk": pd.Series([], dtype="string"),
            "model_version": pd.Series([], dtype="string"),
        }
    )


def score(predictors: Predictors, current: pd.DataFrame, bands: RiskBands) -> pd.DataFrame:
    """`marts.customer_predictions`: one row per customer who has bought, from the saved models only."""
    summary = summary_in_days(current)
    rows = buyers(current).set_index("customer_id")
    if predictors.churn is not None:
        churn = predictors.churn.predict(rows)
    else:
        churn = predictors.purchases.probability_of_no_purchase(summary, WINDOW_DAYS)
    churn = churn.reindex(summary.index).clip(0.0, 1.0)
    frame = pd.DataFrame(
        {
            "customer_id": summary.index.to_numpy(),
            "as_of": rows["as_of"].reindex(summary.index).to_numpy(),
            "p_alive": predictors.purchases.p_alive(summary).to_numpy(),
            "expected_orders_90d": predictors.purchases.expected_purchases(summary, WINDOW_DAYS).to_numpy(),
            "expected_orders_365d": predictors.purchases.expected_purchases(summary, YEAR_DAYS).to_numpy(),
            "predicted_clv_365d": customer_lifetime_value(
                predictors.purchases, predictors.spend, summary, YEAR_DAYS
            ).to_numpy(),
            "churn_probability_90d": churn.to_numpy(),
            "churn_risk": risk_band(churn, bands.medium, bands.high).to_numpy(),
            "model_version": predictors.version,
        }
    )
    for column in ("p_alive", "expected_orders_90d", "expected_orders_365d", "predicted_clv_365d"):
        frame[column] = frame[column].astype("float64").round(6)
    bad = ~np.isfinite(frame[["p_alive", "expected_orders_90d", "predicted_clv_365d"]].to_numpy()).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} customers got no finite prediction from {predictors.version} "
            f"(e.g. {frame.loc[bad, 'customer_id'].iloc[0]!r}); train the predictors again"
        )
    return frame[list(PREDICTION_COLUMNS)]


class PredictorStore(ModelVersions):
    """The predictors' versions under `$TESSERA_HOME/predictions/`, kept the way the matcher's fits are.

    `versions/v0001/` holds `purchases.json`, `spend.json`, `churn.json` + `churn.pickle` (when a classifier
    was trained) and `backtest.json`, all written before `current.json` names the version, so a reader sees
    the old version or the new one, never half of one. `history.jsonl` has one line per training run.
    """

    def save(
        self, purchases: PurchaseModel, spend: SpendModel, churn: ChurnModel | None, report: TrainingReport
    ) -> Predictors:
        existing = sorted(p.name for p in (self.folder / "versions").glob("v*") if p.is_dir())
        number = int(existing[-1][1:]) + 1 if existing else 1
        version = f"v{number:04d}"
        folder = self.folder / "versions" / version
        folder.mkdir(parents=True)
        purchases.save(folder / "purchases.json")
        spend.save(folder / "spend.json")
        if churn is not None:
            churn.save(folder)
        write_atomically(folder / "backtest.json", json.dumps({"version": version, **report.to_dict()}, indent=2))
        entry = {
            "version": version,
            "folder": str(folder.relative_to(self.folder)),
            "as_of": report.as_of,
            "trained_at": report.trained_at,
            "purchase_model": purchases.kind,
            "churn_source": report.churn_source,
            "churn_auc": report.churn_backtest.auc if report.churn_backtest else None,
            "notes": report.notes,
        }
        write_atomically(self.current_path, json.dumps(entry, indent=2) + "\n")
        self.append_history(entry)
        return Predictors(version, purchases, spend, churn)

    def load_current(self) -> Predictors:
        """The current version; `FileNotFoundError` when none was trained, `ModelOutdated` when it is unreadable
        by this installation."""
        if not self.current_path.exists():
            raise FileNotFoundError(f"{self.current_path}: no predictors trained yet")
        entry = json.loads(self.current_path.read_text(encoding="utf-8"))
        folder = self.folder / entry["folder"]
        purchases, spend = FittedModel.load(folder / "purchases.json"), FittedModel.load(folder / "spend.json")
        if not isinstance(purchases, PurchaseModel) or not isinstance(spend, SpendModel):
            raise ValueError(f"{folder}: purchases.json or spend.json holds the wrong kind of model")
        churn = ChurnModel.load(folder) if (folder / "churn.json").exists() else None
        return Predictors(entry["version"], purchases, spend, churn)

    def reports(self) -> list[dict[str, Any]]:
        """Every version's `backtest.json`, oldest first."""
        return [
            json.loads((path / "backtest.json").read_text(encoding="utf-8"))
            for path in sorted((self.folder / "versions").glob("v*"))
            if (path / "backtest.json").exists()
        ]


def train_and_save(
    store: PredictorStore, current: pd.DataFrame, history: pd.DataFrame
) -> tuple[Predictors, TrainingReport]:
    """Train on the feature tables and keep the result as the current version; its notes go to the log."""
    purchases, spend, churn, report = train_predictors(current, history)
    predictors = store.save(purchases, spend, churn, report)
    for note in report.notes:
        log.warning("predictors %s: %s", predictors.version, note)
    return predictors, report


def backtest_rows(reports: list[dict[str, Any]]) -> pd.DataFrame:
    """`marts.model_backtests`: one row per version, model, metric and group, from the saved reports."""
    rows: list[dict[str, Any]] = []

    def add(report, model, metric, value, group=None, scored_as_of=None):
        rows.append(
            {
                "model_version": report["version"],
                "as_of": report["as_of"],
                "trained_at": report["trained_at"],
                "model": model,
                "backtest_as_of": scored_as_of,
                "metric": metric,
                "group_number": group,
                "value": None if value is None else float(value),
            }
        )

    for report in reports:
        for kind, result in report["purchase_backtests"].items():
            for metric in ("customers", "predicted_total", "actual_total", "relative_error", "mae"):
                add(report, kind, metric, result[metric])
            for row in result["deciles"]:
                add(report, kind, "decile_predicted", row["predicted"], row["decile"])
                add(report, kind, "decile_actual", row["actual"], row["decile"])
        churn = report.get("churn_backtest")
        if churn:
            model = "churn_classifier" if report["churn_source"] == "classifier" else "churn_from_purchase_model"
            for metric in ("customers", "churn_rate", "auc", "brier", "brier_of_base_rate"):
                add(report, model, metric, churn[metric], scored_as_of=churn["scored_as_of"])
            for row in churn["calibration"]:
                add(report, model, "calibration_predicted", row["mean_predicted"], row["group"], churn["scored_as_of"])
                add(report, model, "calibration_observed", row["observed_rate"], row["group"], churn["scored_as_of"])
    types = {
        "model_version": "string",
        "as_of": "string",
        "trained_at": "string",
        "model": "string",
        "backtest_as_of": "string",
        "metric": "string",
        "group_number": "Int64",
        "value": "float64",
    }
    # Typed even with no row (a version without backtests), so every warehouse makes the same columns.
    return pd.DataFrame(rows, columns=list(types)).astype(types)


def version_folder(store: PredictorStore, version: str) -> Path:
    return store.folder / "versions" / version
