"""How every version of the predictors backtested, one row per version, model, metric and group
(transforms/predict/predictors.py::backtest_rows), read from the versions' `backtest.json` files.

Built after `customer_predictions`, which may train a version first. DuckDB and Spark, like it.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from pathlib import Path

    from transforms.model_frames import for_warehouse
    from transforms.predict.predictors import PredictorStore, backtest_rows

    dbt.ref("customer_predictions")  # after any training the build did
    folder_setting = dbt.config.meta_get("predictions_dir")
    return for_warehouse(session, backtest_rows(PredictorStore(Path(folder_setting)).reports()))
