"""The RFM summary's BTYD conventions on hand-made transactions, and its cost on a skewed customer."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from transforms.predict.rfm import calibration_and_holdout, holdout_purchases, purchase_days, rfm_summary

pytestmark = pytest.mark.unit


def orders(*rows):
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).assign(
        timestamp=lambda f: pd.to_datetime(f["timestamp"])
    )


TRANSACTIONS = orders(
    # a: three purchase days before the cut-off, two orders on the first day and two on the last
    ("a", "2024-01-01 09:00", 10.0),
    ("a", "2024-01-01 18:30", 5.0),
    ("a", "2024-01-08 12:00", 20.0),
    ("a", "2024-01-15 08:00", 30.0),
    ("a", "2024-01-15 23:59", 10.0),
    # a: in the holdout, two orders on one day and one on another, then one after it
    ("a", "2024-02-01 10:00", 1.0),
    ("a", "2024-02-01 11:00", 1.0),
    ("a", "2024-02-05 10:00", 1.0),
    ("a", "2024-03-30 10:00", 1.0),
    # b: one purchase only, on the cut-off day
    ("b", "2024-01-29 23:00", 7.0),
    # c: first purchase after the cut-off: not in the summary
    ("c", "2024-02-02 10:00", 3.0),
)
CUTOFF = "2024-01-29"


def test_same_day_orders_are_one_purchase_with_their_amounts_summed():
    days = purchase_days(TRANSACTIONS)
    a = days[days["customer_id"] == "a"]
    assert a["day"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-01",
        "2024-01-08",
        "2024-01-15",
        "2024-02-01",
        "2024-02-05",
        "2024-03-30",
    ]
    assert a["amount"].tolist() == [15.0, 20.0, 40.0, 2.0, 1.0, 1.0]


def test_summary_in_days_follows_the_btyd_conventions():
    summary = rfm_summary(TRANSACTIONS, CUTOFF, unit="days")
    assert summary.index.tolist() == ["a", "b"]
    a, b = summary.loc["a"], summary.loc["b"]
    assert a["frequency"] == 2  # three purchase days, the first is not a repeat
    assert a["recency"] == 14.0  # 2024-01-01 to 2024-01-15
    assert a["T"] == 28.0  # 2024-01-01 to the cut-off
    assert a["monetary_value"] == pytest.approx((20.0 + 40.0) / 2)  # repeat days only
    assert (b["frequency"], b["recency"], b["T"], b["monetary_value"]) == (0, 0.0, 0.0, 0.0)


def test_summary_in_weeks_is_days_over_seven():
    days, weeks = rfm_summary(TRANSACTIONS, CUTOFF, unit="days"), rfm_summary(TRANSACTIONS, CUTOFF, unit="weeks")
    assert weeks.loc["a", "recency"] == 2.0 and weeks.loc["a", "T"] == 4.0
    pd.testing.assert_series_equal(weeks["frequency"], days["frequency"])
    pd.testing.assert_series_equal(weeks["monetary_value"], days["monetary_value"])


def test_a_timestamp_on_the_cutoff_day_is_in_the_calibration_period():
    summary = rfm_summary(TRANSACTIONS, pd.Timestamp("2024-01-29 00:00"), unit="days")
    assert "b" in summary.index


def test_holdout_counts_purchase_days_in_the_half_open_window():
    # (2024-01-29, 2024-01-29 + 5 weeks]: a bought on two days (three orders); 2024-03-30 is after the window
    counts = holdout_purchases(TRANSACTIONS, CUTOFF, horizon=5, unit="weeks", customers=pd.Index(["a", "b"]))
    assert counts.to_dict() == {"a": 2, "b": 0}
    longer = holdout_purchases(TRANSACTIONS, CUTOFF, horizon=70, unit="days")
    assert longer.to_dict() == {"a": 3, "c": 1}
    both = calibration_and_holdout(TRANSACTIONS, CUTOFF, horizon=5)
    assert both["holdout_purchases"].to_dict() == {"a": 2, "b": 0}


def test_missing_column_and_bad_unit_are_named():
    with pytest.raises(ValueError, match="amount"):
        rfm_summary(TRANSACTIONS.drop(columns="amount"), CUTOFF)
    with pytest.raises(ValueError, match="months"):
        rfm_summary(TRANSACTIONS, CUTOFF, unit="months")


def test_cost_follows_the_transactions_not_one_customers_purchases():
    """One customer with thousands of purchase days beside a few hundred ordinary ones: the summary is grouped
    in bulk, so it takes as long as any table of that size, and the heavy customer is counted exactly."""
    rng = np.random.default_rng(7)
    start = pd.Timestamp("2020-01-01")
    heavy = pd.DataFrame(
        {
            "customer_id": "heavy",
            "timestamp": start + pd.to_timedelta(np.repeat(np.arange(3000), 2), unit="D"),
            "amount": 1.0,
        }
    )
    light = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, 300, 2000)],
            "timestamp": start + pd.to_timedelta(rng.integers(0, 3000, 2000), unit="D"),
            "amount": rng.gamma(2.0, 20.0, 2000),
        }
    )
    transactions = pd.concat([heavy, light], ignore_index=True)
    started = time.perf_counter()
    summary = rfm_summary(transactions, start + pd.Timedelta(days=2999), unit="days")
    assert time.perf_counter() - started < 2.0
    assert summary.loc["heavy"].to_dict() == {"frequency": 2999, "recency": 2999.0, "T": 2999.0, "monetary_value": 2.0}
    assert len(summary) == 1 + transactions.loc[transactions["customer_id"] != "heavy", "customer_id"].nunique()


def test_time_zones_are_dropped_and_an_empty_period_gives_an_empty_summary():
    aware = TRANSACTIONS.assign(timestamp=TRANSACTIONS["timestamp"].dt.tz_localize("UTC"))
    pd.testing.assert_frame_equal(rfm_summary(aware, pd.Timestamp(CUTOFF, tz="UTC")), rfm_summary(TRANSACTIONS, CUTOFF))
    empty = rfm_summary(TRANSACTIONS, "2023-12-31")
    assert empty.empty and list(empty.columns) == ["frequency", "recency", "T", "monetary_value"]
    with pytest.raises(ValueError, match="months"):
        holdout_purchases(TRANSACTIONS, CUTOFF, horizon=1, unit="months")
