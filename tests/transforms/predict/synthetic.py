"""A customer base drawn from the Pareto/NBD story, and its feature tables as the dbt models lay them out.

Each customer buys at a Poisson rate of their own (gamma across customers) from their first purchase until
they leave, after an exponential lifetime (its rate gamma across customers too). E-mail opens and web
sessions come at rates that fall once a customer has left. The feature tables are computed from the drawn
receipts with `transforms.predict.rfm` (whose summary equals `int_customer_purchase_features`, as the CDNOW
pipeline test shows), at "now" and at the ends of the days 90, 180, … before it, with the purchase days of
the 90 days that follow each moment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.predict.rfm import calibration_and_holdout

NOW = pd.Timestamp("2026-06-30 18:00:00")
WINDOW = 90


def receipts(customers: int, seed: int = 3, span_days: int = 400) -> tuple[pd.DataFrame, pd.Series]:
    """Receipts (`customer_id`, `timestamp`, `amount`) up to `NOW`, and each customer's leaving time."""
    rng = np.random.default_rng(seed)
    start = NOW.normalize() - pd.Timedelta(days=span_days)
    first = rng.uniform(0, span_days - 30, customers)
    rate = rng.gamma(2.0, 0.015, customers)
    lifetime = rng.exponential(1.0 / rng.gamma(2.0, 1.0 / 300.0, customers))
    end = np.minimum(first + lifetime, span_days)
    counts = rng.poisson(rate * (end - first))
    who = np.repeat(np.arange(customers), counts)
    days = first[who] + rng.uniform(0, 1, len(who)) * (end - first)[who]
    who, days = np.r_[np.arange(customers), who], np.r_[first, days]  # the first purchase itself
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in who],
            "timestamp": start + pd.to_timedelta(days, unit="D"),
            "amount": np.round(rng.gamma(3.0, 15.0, len(who)), 2),
        }
    )
    leaves = pd.Series(
        start + pd.to_timedelta(first + lifetime, unit="D"), index=[f"c{i:05d}" for i in range(customers)]
    )
    return frame[frame["timestamp"] <= NOW], leaves


def features_as_of(transactions: pd.DataFrame, leaves: pd.Series, moment: pd.Timestamp, seed: int) -> pd.DataFrame:
    """The feature columns of every customer who had bought by `moment`, with their next 90 days' purchase days."""
    rng = np.random.default_rng(seed)
    summary = calibration_and_holdout(transactions, moment, WINDOW, unit="days")
    n = len(summary)
    gone = (leaves.reindex(summary.index) <= moment).to_numpy()
    spend = transactions[transactions["timestamp"] <= moment].groupby("customer_id")["amount"].sum()
    return pd.DataFrame(
        {
            "customer_id": summary.index.to_numpy(),
            "as_of": moment,
            "purchase_days": summary["frequency"].to_numpy() + 1,
            "frequency": summary["frequency"].to_numpy(),
            "recency_days": summary["recency"].to_numpy(),
            "t_days": summary["T"].to_numpy(),
            "monetary_value": summary["monetary_value"].to_numpy(),
            "total_spend": spend.reindex(summary.index).to_numpy(),
            "tenure_days": summary["T"].to_numpy() + rng.integers(0, 60, n),
            "email_opens_90d": rng.poisson(np.where(gone, 0.4, 3.0)),
            "email_clicks_90d": rng.poisson(np.where(gone, 0.1, 0.8)),
            "web_sessions_90d": rng.poisson(np.where(gone, 0.3, 2.5)),
            "source_count": rng.integers(1, 4, n),
            "purchase_days_next": summary["holdout_purchases"].to_numpy(),
        }
    )


def feature_tables(customers: int, snapshots: int, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(`int_customer_purchase_features`, `int_customer_feature_history`) of a drawn customer base; the current
    table also holds a few customers who have not bought (no purchase columns)."""
    transactions, leaves = receipts(customers, seed)
    current = features_as_of(transactions, leaves, NOW, seed).drop(columns="purchase_days_next")
    prospects = pd.DataFrame({"customer_id": [f"p{i:04d}" for i in range(customers // 10)], "as_of": NOW})
    prospects = prospects.assign(purchase_days=0, total_spend=0.0, email_opens_90d=1, email_clicks_90d=0,
                                 web_sessions_90d=2, source_count=1)  # fmt: skip
    history = [
        features_as_of(transactions, leaves, NOW.normalize() - pd.Timedelta(days=WINDOW * k - 1, seconds=1), seed + k)
        .assign(snapshot_number=k)
        for k in range(1, snapshots + 1)
    ]  # fmt: skip
    return pd.concat([current, prospects], ignore_index=True), pd.concat(history, ignore_index=True)
