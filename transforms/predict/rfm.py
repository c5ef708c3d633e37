"""The RFM summary buy-till-you-die models fit on, computed as of a cut-off.

BTYD models count purchase *days*: several orders by one customer on one day are one purchase, with their
amounts summed. Per customer, as of the cut-off (purchases on the cut-off day included):

- `frequency`: the number of repeat purchase days (purchase days after the first);
- `recency`: the time from the first purchase day to the last;
- `T`: the time from the first purchase day to the cut-off;
- `monetary_value`: the mean spend of the repeat purchase days (0 with no repeat purchase), because the
  first purchase is what brought the customer in and is excluded from the spend model by convention.

Times are in days or weeks (days / 7). Customers whose first purchase is after the cut-off are not in the
summary. The holdout count is the number of purchase days in (cut-off, cut-off + horizon].

Everything is grouped in bulk by pandas, so the cost follows the number of transactions, not the number of
customers or of purchases per customer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import pandas as pd

TimeUnit = Literal["days", "weeks"]

#: Days per unit.
UNIT_DAYS: dict[str, int] = {"days": 1, "weeks": 7}

#: The summary's columns, in order, after the customer id (its index).
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")


def purchase_days(
    transactions: pd.DataFrame,
    customer: str = "customer_id",
    timestamp: str = "timestamp",
    amount: str | None = "amount",
) -> pd.DataFrame:
    """One row per customer and purchase day (`customer_id`, `day`, `amount`), amounts of the day summed."""
    missing = [c for c in (customer, timestamp, amount) if c is not None and c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack the column(s) {missing}; they have {list(transactions.columns)}")
    days = pd.DataFrame(
        {
            "customer_id": transactions[customer].to_numpy(),
            "day": pd.to_datetime(transactions[timestamp]).dt.tz_localize(None).dt.normalize().to_numpy(),
            "amount": transactions[amount].to_numpy(dtype="float64") if amount else 0.0,
        }
    )
    return days.groupby(["customer_id", "day"], as_index=False, sort=True)["amount"].sum()


def as_day(cutoff: date | datetime | str | pd.Timestamp) -> pd.Timestamp:
    """The calendar day of a date or timestamp (time zone dropped): cut-offs are whole days."""
    return (
        pd.Timestamp(cutoff).tz_localize(None).normalize()
        if pd.Timestamp(cutoff).tzinfo
        else pd.Timestamp(cutoff).normalize()
    )


def rfm_summary(
    transactions: pd.DataFrame,
    cutoff: date | datetime | str | pd.Timestamp,
    unit: TimeUnit = "weeks",
    customer: str = "customer_id",
    timestamp: str = "timestamp",
    amount: str | None = "amount",
) -> pd.DataFrame:
    """The RFM summary as of `cutoff`, indexed by customer id (see the module docstring for the conventions)."""
    return _summary_of_days(purchase_days(transactions, customer, timestamp, amount), as_day(cutoff), unit)


def _unit_length(unit: str) -> pd.Timedelta:
    if unit not in UNIT_DAYS:
        raise ValueError(f"unit must be one of {sorted(UNIT_DAYS)}, not {unit!r}")
    return pd.Timedelta(days=UNIT_DAYS[unit])


def _summary_of_days(days: pd.DataFrame, cutoff: pd.Timestamp, unit: TimeUnit) -> pd.DataFrame:
    """The summary from `purchase_days` rows, which come sorted by customer and day."""
    per_unit = _unit_length(unit)
    per_customer = (
        days[days["day"] <= cutoff]
        .groupby("customer_id", sort=True)
        .agg(
            first=("day", "first"),
            last=("day", "last"),
            days=("day", "size"),
            total=("amount", "sum"),
            first_amount=("amount", "first"),
        )
    )
    frequency = (per_customer["days"] - 1).astype("int64")
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (per_customer["last"] - per_customer["first"]) / per_unit,
            "T": (cutoff - per_customer["first"]) / per_unit,
            "monetary_value": (
                (per_customer["total"] - per_customer["first_amount"]) / frequency.where(frequency > 0)
            ).fillna(0.0),
        }
    ).astype({"recency": "float64", "T": "float64", "monetary_value": "float64"})
    summary.index.name = "customer_id"
    return summary


def holdout_purchases(
    transactions: pd.DataFrame,
    cutoff: date | datetime | str | pd.Timestamp,
    horizon: float,
    unit: TimeUnit = "weeks",
    customer: str = "customer_id",
    timestamp: str = "timestamp",
    customers: pd.Index | None = None,
) -> pd.Series:
    """Purchase days per customer in (cutoff, cutoff + horizon], the horizon in `unit`s.

    With `customers` (usually a summary's index) the result has exactly those customers, 0 where none.
    """
    days = purchase_days(transactions, customer, timestamp, amount=None)
    start = as_day(cutoff)
    end = start + horizon * _unit_length(unit)
    counts = days[(days["day"] > start) & (days["day"] <= end)].groupby("customer_id", sort=True).size()
    if customers is not None:
        counts = counts.reindex(customers, fill_value=0)
    counts.index.name = "customer_id"
    return counts.astype("int64").rename("holdout_purchases")


def calibration_and_holdout(
    transactions: pd.DataFrame,
    cutoff: date | datetime | str | pd.Timestamp,
    horizon: float,
    unit: TimeUnit = "weeks",
    customer: str = "customer_id",
    timestamp: str = "timestamp",
    amount: str | None = "amount",
) -> pd.DataFrame:
    """The summary as of `cutoff` with a `holdout_purchases` column: the data a backtest needs, in one pass."""
    days = purchase_days(transactions, customer, timestamp, amount)
    start = as_day(cutoff)
    summary = _summary_of_days(days, start, unit)
    end = start + horizon * _unit_length(unit)
    holdout = days[(days["day"] > start) & (days["day"] <= end)].groupby("customer_id").size()
    summary["holdout_purchases"] = holdout.reindex(summary.index, fill_value=0).astype("int64")
    return summary
