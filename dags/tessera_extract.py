"""Airflow DAGs: one extract DAG per registered source (`connectors/sources/<name>/`), named
`tessera_extract_<name>`, landing one batch per data interval."""

from tessera.orchestration import extract_dags

globals().update(extract_dags())
