"""Predictions in a home: training the predictors from the warehouse (`training`) and its weekly DAG (`dag`).

The models and their scoring are in `transforms/predict/`; the build scores in `marts.customer_predictions`.
"""
