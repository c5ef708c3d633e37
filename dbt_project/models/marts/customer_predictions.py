"""Forward-looking traits of every customer who has bought (transforms/predict/predictors.py).

The daily build only scores: it loads the current version of the predictors from `$TESSERA_HOME/predictions/`
and applies it to `int_customer_purchase_features`. Training is explicit (`tessera train-predictors`, the
weekly `tessera_train_predictors` DAG); a build that finds no trained version, or one this installation cannot
read, trains one first from `int_customer_feature_history` and says so.

A Python model because the models are numerical code (lifetimes, scikit-learn): on DuckDB, and on Spark in
the session's own process (tessera/spark_python_models.py), reading the same features
(transforms/model_frames.py); PostgreSQL leaves it out (docs/warehouse-engines.md).
"""


def say(message):
    """In dbt's output and log, and in the caller's log (the CLI and the DAG task show it)."""
    import logging

    from dbt_common.events.functions import fire_event
    from dbt_common.events.types import Note

    fire_event(Note(msg=message))
    logging.getLogger("tessera.predictions").warning(message)


def model(dbt, session):
    dbt.config(materialized="table")
    from pathlib import Path

    from transforms.model_frames import for_warehouse, to_pandas
    from transforms.predict.churn import ModelOutdated, NotEnoughHistory
    from transforms.predict.predictors import PredictorStore, RiskBands, no_predictions, score, train_and_save

    # Plain calls on their own lines: dbt finds the settings a Python model reads by parsing it.
    folder_setting = dbt.config.meta_get("predictions_dir")
    medium_setting = dbt.config.meta_get("churn_risk_medium")
    high_setting = dbt.config.meta_get("churn_risk_high")
    store = PredictorStore(Path(folder_setting))
    bands = RiskBands(medium=float(medium_setting), high=float(high_setting))
    current = to_pandas(dbt.ref("int_customer_purchase_features"))
    try:
        predictors = store.load_current()
    except (FileNotFoundError, ModelOutdated) as exc:
        say(f"predictions: {exc}; training the predictors first (tessera train-predictors)")
        history = to_pandas(dbt.ref("int_customer_feature_history"))
        try:
            predictors, _ = train_and_save(store, current, history)
        except NotEnoughHistory as reason:
            say(f"predictions: none this build, nothing to train on yet: {reason}")
            return for_warehouse(session, no_predictions())
        say(f"predictions: trained {predictors.version} into {store.folder}")
    return for_warehouse(session, score(predictors, current, bands))
