"""Airflow DAG: unify landed data into the golden customer marts with dbt, node by node (Cosmos)."""

from tessera.orchestration import transform_dag

dag = transform_dag()
