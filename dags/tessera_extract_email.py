"""Airflow DAG: land ESP subscribers and email events in the lake, one batch per data interval."""

from tessera.orchestration import extract_dag

dag = extract_dag(
    "email",
    cron="0 0 * * *",
    what="subscribers and email events from the email service provider's REST API",
)
