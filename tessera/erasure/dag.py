"""The erasure DAG: request files dropped in `$TESSERA_HOME/requests/erasure/` are served on a schedule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from tessera.alerts import on_task_failure
from tessera.orchestration import START_DATE

DAG_ID = "tessera_erasure"
SCHEDULE = "*/15 * * * *"

ERASURE_DOC = """\
### Erasure requests (right to be forgotten)

Every 15 minutes, serves the request files dropped in `$TESSERA_HOME/requests/erasure/` (one JSON object
each: `{"email": ...}`, `{"phone": "+44..."}`, `{"crm_id": ...}` or `{"customer_id": ...}`). Each request
erases the person from the lake, quarantine, both warehouses, the connector state, the text files under
`$TESSERA_HOME` and the destinations, and puts their hashed identifiers on the suppression list. A served
file moves to `done/` with its value replaced by its SHA-256 and the counts; an invalid one to `rejected/`.

**Triage.** A failed run names the request files it could not serve; they stay in the folder and the next
run serves them. "open elsewhere" means a build held the warehouse: let it finish, the retry succeeds. An
interrupted request is finished by the next run (its plan waits in `$TESSERA_HOME/erasure/pending/`). The
CLI does the same for one person: `tessera forget --email ...`.
"""


def erasure_dag():
    @dag(
        dag_id=DAG_ID,
        schedule=SCHEDULE,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={
            "retries": 3,
            "retry_delay": timedelta(minutes=2),
            "retry_exponential_backoff": True,
            "on_failure_callback": on_task_failure,
        },
        tags=["tessera", "protect"],
        doc_md=ERASURE_DOC,
    )
    def erasure():
        @task
        def serve_erasure_requests() -> list[dict[str, Any]]:
            """Serve every waiting request file; summaries carry hashes and counts, never a plain value."""
            from tessera.erasure.requests_folder import serve_request_files
            from tessera.home import tessera_home

            return serve_request_files(tessera_home())

        serve_erasure_requests()

    return erasure()
