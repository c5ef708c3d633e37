"""Predictions: buy-till-you-die models of repeat purchases and spend, fitted on an RFM summary.

- `rfm`: the per-customer summary (frequency, recency, T, monetary value) as of a cut-off, and holdout counts.
- `btyd`: BG/NBD, Pareto/NBD (the project's forecast) and Gamma-Gamma fits, their forecasts (purchases,
  `p_alive`, CLV) and their JSON form; the one module that imports the fitting library.
- `training`: a training run (backtest, then the models kept) and per-customer scores; `model_store`: the
  versioned folder runs are kept in.
- `backtest`: predicted against actual holdout purchases, in total, by decile and per customer.
- `cdnow`: the CDNOW reference data (Fader, Hardie & Lee 2005) that ships in the `lifetimes` wheel.
"""
