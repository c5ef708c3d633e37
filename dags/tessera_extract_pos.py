"""Airflow DAG: land POS loyalty members and transactions in the lake, one batch per data interval."""

from tessera.orchestration import extract_dag

dag = extract_dag(
    "pos",
    cron="0 0 * * *",
    what="loyalty members and transactions from the point-of-sale database",
)
