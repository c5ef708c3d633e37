"""Training the prediction models on a customer base, with the backtest that says how far to trust them.

A training run as of a date does two fits on the same transactions:

1. the backtest: the models fitted as of `as_of - holdout` and scored on the purchases of the `holdout`
   that follows (`backtest.backtest`), both for the project's purchase model and for plain BG/NBD, so a
   run shows what the choice buys on this customer base and not only on CDNOW;
2. the models kept: refitted as of `as_of` on everything, which is what forecasts from `as_of` on.

Scoring (`score_customers`) gives each customer of a summary their expected purchases over a horizon,
`p_alive`, expected spend per purchase and CLV over that horizon.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from transforms.predict.backtest import Backtest, backtest
from transforms.predict.btyd import (
    DEFAULT_PURCHASE_MODEL,
    PurchaseModel,
    PurchaseModelKind,
    SpendModel,
    customer_lifetime_value,
    fit_purchases,
    fit_spend,
)
from transforms.predict.rfm import UNIT_DAYS, TimeUnit, as_day, calibration_and_holdout, rfm_summary

log = logging.getLogger(__name__)

BASELINE_PURCHASE_MODEL: PurchaseModelKind = "bg_nbd"


@dataclass(frozen=True)
class TrainingRun:
    """The models kept (fitted as of `as_of`) and their backtests (fitted as of `backtest_cutoff`)."""

    as_of: str
    unit: str
    holdout: float
    backtest_cutoff: str
    purchases: PurchaseModel
    spend: SpendModel
    backtests: dict[str, Backtest]  # by purchase model kind: the kept kind and the baseline

    def metrics(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "unit": self.unit,
            "backtest_cutoff": self.backtest_cutoff,
            "holdout": self.holdout,
            "purchase_model": self.purchases.kind,
            "backtests": {kind: result.to_dict() for kind, result in self.backtests.items()},
        }


def train(
    transactions: pd.DataFrame,
    as_of: date | datetime | str | pd.Timestamp,
    holdout: float,
    unit: TimeUnit = "weeks",
    purchase_model: PurchaseModelKind = DEFAULT_PURCHASE_MODEL,
) -> TrainingRun:
    """Backtest on the `holdout` before `as_of`, then fit the models kept as of `as_of` (see the module doc).

    `transactions` has `customer_id`, `timestamp` and `amount`, one row per order.
    """
    end = as_day(as_of)
    cutoff = end - pd.Timedelta(days=holdout * UNIT_DAYS[unit])
    cutoff_text, end_text = f"{cutoff:%Y-%m-%d}", f"{end:%Y-%m-%d}"
    earlier = calibration_and_holdout(transactions, cutoff, holdout, unit)
    calibration = earlier.drop(columns="holdout_purchases")
    backtests = {}
    for kind in dict.fromkeys([purchase_model, BASELINE_PURCHASE_MODEL]):
        model = fit_purchases(calibration, cutoff_text, unit, kind=kind)
        backtests[kind] = backtest(model.expected_purchases(calibration, holdout), earlier["holdout_purchases"])
        log.info(
            "backtest %s as of %s over %s %s: %+.1f %% in total, MAE %.3f",
            kind,
            cutoff_text,
            holdout,
            unit,
            100 * (backtests[kind].relative_error or 0.0),
            backtests[kind].mae,
        )
    summary = rfm_summary(transactions, end, unit)
    return TrainingRun(
        as_of=end_text,
        unit=unit,
        holdout=holdout,
        backtest_cutoff=cutoff_text,
        purchases=fit_purchases(summary, end_text, unit, kind=purchase_model),
        spend=fit_spend(summary, end_text, unit),
        backtests=backtests,
    )


def score_customers(
    purchases: PurchaseModel, spend: SpendModel, summary: pd.DataFrame, horizon: float, discount_rate: float = 0.0
) -> pd.DataFrame:
    """Per customer of `summary`: expected purchases over `horizon`, `p_alive`, expected spend, CLV."""
    if purchases.window.unit != spend.window.unit:
        raise ValueError(f"the purchase model is in {purchases.window.unit}, the spend model in {spend.window.unit}")
    return pd.DataFrame(
        {
            "expected_purchases": purchases.expected_purchases(summary, horizon),
            "p_alive": purchases.p_alive(summary),
            "expected_spend": spend.expected_spend(summary),
            "clv": customer_lifetime_value(purchases, spend, summary, horizon, discount_rate),
        }
    )
