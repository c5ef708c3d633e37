"""The weekly DAG that trains the predictors; the new version's Asset has the transform DAG score with it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from tessera.alerts import on_task_failure
from tessera.orchestration import PREDICTORS_ASSET, START_DATE

DAG_ID = "tessera_train_predictors"
SCHEDULE = "0 3 * * 0"  # Sundays 03:00 UTC, outside the extraction windows

TRAINING_DOC = """\
### Train the predictors (churn risk, expected orders, CLV)

Every Sunday, fits the purchase model (Pareto/NBD), the spend model (Gamma-Gamma) and the churn classifier on
the warehouse's feature tables (`int_customer_purchase_features`, `int_customer_feature_history`), backtests
them on the latest 90 days they did not see, and keeps them as the next version under
`$TESSERA_HOME/predictions/versions/`. Its Asset (`tessera://predictions/current`) then schedules
`tessera_transform`, whose build scores every buyer with the new version (`marts.customer_predictions`, the traits in `golden_customers`) and publishes
`marts.model_backtests`.

**Triage.** "locked by a running build": the transform was running; the retry succeeds. "a classifier needs
at least …": too little history for the classifier; the churn probability keeps coming from the purchase
model, as the version's notes say. The daily build never trains unless no version exists.
"""


def training_dag():
    @dag(
        dag_id=DAG_ID,
        schedule=SCHEDULE,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={
            "retries": 3,
            "retry_delay": timedelta(minutes=5),
            "on_failure_callback": on_task_failure,
        },
        tags=["tessera", "predict"],
        doc_md=TRAINING_DOC,
    )
    def train_predictors():
        @task(outlets=[PREDICTORS_ASSET])
        def train() -> dict[str, Any]:
            """Fit, backtest and keep the next version; what it holds goes to the task log."""
            from tessera.home import tessera_home
            from tessera.predictions.training import describe, train_from_warehouse

            predictors, report = train_from_warehouse(tessera_home())
            for line in describe(predictors, report):
                print(line)
            return {"version": predictors.version, **report.to_dict()}

        train()

    return train_predictors()
