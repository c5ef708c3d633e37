"""Airflow DAG: train the predictors every week, then have the transform score with them."""

from tessera.predictions.dag import training_dag

dag = training_dag()
