"""Airflow DAGs: sync each segment to its destinations on its schedule (reverse ETL), from the dbt manifest."""

from tessera.orchestration import activation_dags

globals().update(activation_dags())
