"""Airflow DAG: unify landed data into the golden customer marts with one `dbt build`, shown as a task per
model and seed (Cosmos watcher mode); a run with nothing new since the last publication skips the build."""

from tessera.orchestration import transform_dag

dag = transform_dag()
