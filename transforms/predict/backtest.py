"""How a forecast did on a holdout window: predicted against actual purchases, in total, by decile, per customer.

The total says whether the forecast is calibrated for planning (a relative error); the deciles say whether it
ranks customers (customers grouped by predicted purchases, the top tenth first); the per-customer MAE says
how far an individual forecast is off, which is what a per-customer action (an offer, a churn call) feels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DecileRow:
    decile: int  # 1 holds the customers with the highest predictions
    customers: int
    predicted: float
    actual: int


@dataclass(frozen=True)
class Backtest:
    customers: int
    predicted_total: float
    actual_total: int
    relative_error: float | None  # (predicted - actual) / actual; None when nothing was bought
    mae: float
    deciles: tuple[DecileRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backtest(predicted: pd.Series, actual: pd.Series, groups: int = 10) -> Backtest:
    """Score `predicted` against `actual` holdout purchases, both indexed by customer.

    A customer missing from `actual` bought nothing in the holdout; one missing from `predicted` is an error,
    since every customer scored must have a forecast.
    """
    missing = actual.index.difference(predicted.index)
    if len(missing):
        raise ValueError(f"{len(missing)} customers have holdout purchases but no forecast (e.g. {missing[0]!r})")
    if predicted.isna().any():
        raise ValueError(f"{int(predicted.isna().sum())} forecasts are missing (NaN)")
    actual = actual.reindex(predicted.index, fill_value=0).astype("int64")
    predicted_values, actual_values = predicted.to_numpy(dtype="float64"), actual.to_numpy()
    predicted_total, actual_total = float(predicted_values.sum()), int(actual_values.sum())
    return Backtest(
        customers=len(predicted),
        predicted_total=predicted_total,
        actual_total=actual_total,
        relative_error=(predicted_total - actual_total) / actual_total if actual_total else None,
        mae=float(np.abs(predicted_values - actual_values).mean()) if len(predicted) else 0.0,
        deciles=_deciles(predicted_values, actual_values, groups),
    )


def _deciles(predicted: np.ndarray, actual: np.ndarray, groups: int) -> tuple[DecileRow, ...]:
    """Customers ranked by prediction (highest first, ties in input order) and cut into `groups` near-equal
    groups, so a tie-heavy forecast still gives groups of the same size."""
    if not len(predicted):
        return ()
    order = np.argsort(-predicted, kind="stable")
    group_of_rank = (np.arange(len(order)) * groups) // len(order)
    group = np.empty(len(order), dtype="int64")
    group[order] = group_of_rank
    frame = pd.DataFrame({"group": group + 1, "predicted": predicted, "actual": actual})
    totals = frame.groupby("group").agg(
        customers=("predicted", "size"), predicted=("predicted", "sum"), actual=("actual", "sum")
    )
    return tuple(
        DecileRow(decile=int(g), customers=int(r.customers), predicted=float(r.predicted), actual=int(r.actual))
        for g, r in totals.iterrows()
    )
