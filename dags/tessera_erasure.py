"""Airflow DAG: serve the erasure requests (right to be forgotten) dropped in `$TESSERA_HOME/requests/erasure/`."""

from tessera.erasure.dag import erasure_dag

dag = erasure_dag()
