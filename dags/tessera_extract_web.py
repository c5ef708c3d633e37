"""Airflow DAG: land web event files (hourly Segment-style drops) in the lake, one batch per data interval."""

from tessera.orchestration import extract_dag

dag = extract_dag(
    "web",
    cron="0 * * * *",
    what="Segment-style web event files dropped hourly into the tracking folder",
)
