"""Predictions: forward-looking traits of every customer who has bought, trained, backtested and versioned.

- `rfm`: the per-customer summary (frequency, recency, T, monetary value) as of a cut-off, and holdout counts.
- `btyd`: BG/NBD, Pareto/NBD (the project's forecast) and Gamma-Gamma fits, their forecasts (purchases,
  `p_alive`, the probability of no purchase in a window, CLV) and their JSON form; the one module that
  imports the fitting library.
- `churn`: the calibrated gradient-boosting churn classifier, its time-based label and its backtest.
- `backtest`: predicted against actual holdout purchases, in total, by decile and per customer.
- `predictors`: training on the warehouse's feature tables, the versioned store, scoring, backtest rows.
- `cdnow`: the CDNOW reference data (Fader, Hardie & Lee 2005) that ships in the `lifetimes` wheel.
"""
