"""Backtest arithmetic on hand-made forecasts."""

from __future__ import annotations

import pandas as pd
import pytest

from transforms.predict.backtest import backtest

pytestmark = pytest.mark.unit


def test_totals_relative_error_and_mae():
    predicted = pd.Series({"a": 2.0, "b": 0.5, "c": 0.0, "d": 1.5})
    actual = pd.Series({"a": 3, "c": 1})  # b and d bought nothing
    result = backtest(predicted, actual, groups=2)
    assert result.customers == 4
    assert result.predicted_total == 4.0 and result.actual_total == 4
    assert result.relative_error == 0.0
    assert result.mae == pytest.approx((1.0 + 0.5 + 1.0 + 1.5) / 4)
    # top half by prediction: a (2.0) and d (1.5); bottom half: b and c
    assert [(r.decile, r.customers, r.predicted, r.actual) for r in result.deciles] == [(1, 2, 3.5, 3), (2, 2, 0.5, 1)]


def test_deciles_are_equal_sized_even_with_ties():
    predicted = pd.Series([0.0] * 15 + [1.0] * 5, index=range(20))
    actual = pd.Series([0] * 15 + [2] * 5, index=range(20))
    result = backtest(predicted, actual)
    assert [r.customers for r in result.deciles] == [2] * 10
    assert [r.actual for r in result.deciles] == [4, 4, 2, 0, 0, 0, 0, 0, 0, 0]
    assert result.relative_error == pytest.approx((5 - 10) / 10)
    assert result.to_dict()["deciles"][0] == {"decile": 1, "customers": 2, "predicted": 2.0, "actual": 4}


def test_a_buyer_without_a_forecast_is_an_error():
    with pytest.raises(ValueError, match="no forecast"):
        backtest(pd.Series({"a": 1.0}), pd.Series({"a": 1, "z": 2}))
