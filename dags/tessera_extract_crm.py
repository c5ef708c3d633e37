"""Airflow DAG: land CRM contacts in the lake, one batch per data interval."""

from tessera.orchestration import extract_dag

dag = extract_dag(
    "crm",
    cron="0 0 * * *",
    what="contacts from the CRM's REST API (HubSpot-style)",
)
