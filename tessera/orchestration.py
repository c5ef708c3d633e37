"""Builders for Tessera's Airflow DAGs, so each DAG file only names what it wires.

Imports here are Airflow's authoring SDK only: DAG parsing stays fast, and the heavy
libraries (pyarrow, duckdb, httpx …) load inside the tasks that use them.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from tessera.alerts import on_task_failure
from tessera.catalog import STREAMS

#: The fixed tag vocabulary: a stage of the flow plus, for extract DAGs, the source.
STAGE_TAGS = frozenset({"collect", "unify", "check", "activate", "protect"})
SOURCE_TAGS = frozenset({"source:crm", "source:email", "source:pos", "source:web"})
TAG_VOCABULARY = STAGE_TAGS | SOURCE_TAGS | {"tessera"}

START_DATE = datetime.fromisoformat(os.environ.get("TESSERA_START_DATE", "2026-01-01T00:00:00+00:00"))

NETWORK_TASK_ARGS: dict[str, Any] = {
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "on_failure_callback": on_task_failure,
}


def raw_asset(source: str, stream: str) -> Asset:
    """The Asset a landed stream updates; downstream DAGs schedule on it."""
    return Asset(name=f"tessera.raw.{source}.{stream}", uri=f"tessera://lake/raw/{source}/{stream}")


EXTRACT_DOC = """
### Extract {source} → lake
Lands {what} as Parquet under `$TESSERA_HOME/lake/raw/{source}/<stream>/batch_id=<interval start>/`
(contract: `docs/landing-contract.md`). Each run reads incrementally from the committed cursor,
re-reading a lookback window for late arrivals; re-running a run replaces its batch.

**Triage a failure:** the task log names the request or record that failed. Source errors
(429/5xx, timeouts) are retried with backoff inside the task and then by Airflow; a run that still
fails is safe to clear and re-run: it resumes from the last committed state, and a batch written
before a crash but never committed is removed and read again. Records that cannot be parsed do not
fail the run: they are counted in the log and kept with a reason under `lake/quarantine/{source}/`.
Connection: `tessera_{source}` (see `docs/connectors.md`).
"""


def extract_dag(source: str, cron: str, what: str):
    """One extract DAG for one source: a task per stream, each landing one batch per data interval."""

    @dag(
        dag_id=f"tessera_extract_{source}",
        schedule=CronDataIntervalTimetable(cron, timezone="UTC"),
        start_date=START_DATE,
        catchup=os.environ.get("TESSERA_CATCHUP", "false").lower() == "true",
        max_active_runs=1,
        default_args=NETWORK_TASK_ARGS,
        tags=["tessera", "collect", f"source:{source}"],
        doc_md=EXTRACT_DOC.format(source=source, what=what),
    )
    def extract():
        for stream in STREAMS[source]:

            @task(task_id=f"extract_{stream}", outlets=[raw_asset(source, stream)])
            def extract_stream(stream: str = stream, **context: Any) -> dict[str, Any]:
                from tessera.extract import extract_source

                start = context.get("data_interval_start")
                end = context.get("data_interval_end") or context["dag_run"].run_after
                (result,) = extract_source(source, start, end, streams=(stream,))
                return {
                    "batch_id": result.batch_id,
                    "rows": result.rows,
                    "quarantined": result.quarantined,
                    "rerun": result.rerun,
                }

            extract_stream()

    return extract()


TRANSFORM_DOC = """
### Unify: landed data → golden customers (dbt, rendered by Cosmos)
Runs when every raw stream has landed a new batch. Each dbt node is a task (`dbt build` of that node:
the model, then its tests), rendered from the project's manifest, so a failing model or test shows as
that task. The identity resolution (`int_identity_resolution`, connected components with merge
protection) is one of those nodes, in its place in the graph. The warehouse is DuckDB by default, so
the DAG runs one task at a time (one writer per DuckDB file); on PostgreSQL raise `max_active_tasks`.

Runs are incremental: staging reads only the batches landed since the last run and stitching re-decides
only the customers whose identifiers changed. Trigger the DAG with `{"full_refresh": true}` to rebuild
everything from the whole lake (`dbt build --full-refresh`) after changing a model's columns, a
normalisation rule or a seed; customer ids stay stable either way.

**Triage a failure:** open the failed task's log for dbt's message (model error, or the failing test
and its failing rows query). Fix the model or the data, then clear the task and its downstream tasks.
A model that stops on "schema ... out of sync" needs a run with `full_refresh`.
Analysts reproduce any node locally with `dbt build --select <model>` in `dbt_project/`.
Publishes the Assets `tessera.marts.golden_customers` and `tessera.marts.customer_xref`.
"""

MART_ASSETS = (
    Asset(name="tessera.marts.golden_customers", uri="tessera://warehouse/marts/golden_customers"),
    Asset(name="tessera.marts.customer_xref", uri="tessera://warehouse/marts/customer_xref"),
)


def transform_dag():
    """The transform DAG: the dbt project as a Cosmos task group, scheduled on every raw stream's Asset."""
    from functools import reduce
    from operator import and_

    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode, TestBehavior

    from tessera.transform import DBT_PROJECT_DIR, MANIFEST_PATH

    if not MANIFEST_PATH.exists():
        raise FileNotFoundError(
            f"dbt manifest not found at {MANIFEST_PATH}: run `tessera dbt-parse` (make install does) to render this DAG"
        )
    target = os.environ.get("TESSERA_DBT_TARGET", "duckdb")
    raw_assets = [raw_asset(source, stream) for source, streams in STREAMS.items() for stream in streams]

    @dag(
        dag_id="tessera_transform",
        schedule=reduce(and_, raw_assets),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        max_active_tasks=1 if target == "duckdb" else 8,
        default_args={"retries": 1, "retry_delay": timedelta(minutes=1), "on_failure_callback": on_task_failure},
        tags=["tessera", "unify", "check"],
        doc_md=TRANSFORM_DOC,
        params={
            "full_refresh": Param(
                False, type="boolean", description="Rebuild every incremental model from the whole lake."
            )
        },
    )
    def transform():
        dbt = DbtTaskGroup(
            group_id="dbt",
            project_config=ProjectConfig(dbt_project_path=DBT_PROJECT_DIR, manifest_path=MANIFEST_PATH),
            profile_config=ProfileConfig(
                profile_name="tessera", target_name=target, profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml"
            ),
            render_config=RenderConfig(
                load_method=LoadMode.DBT_MANIFEST,
                test_behavior=TestBehavior.BUILD,
                # A test on two models (relationships) runs once both are built, as its own task.
                should_detach_multiple_parents_tests=True,
                emit_datasets=False,
            ),
            execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
            # Templated per run: a manual run with {"full_refresh": true} passes --full-refresh to every node.
            operator_args={"install_deps": False, "full_refresh": "{{ params.full_refresh }}"},
        )

        @task(outlets=list(MART_ASSETS))
        def publish_marts() -> dict[str, int]:
            from tessera.warehouse import mart_counts

            return mart_counts()

        dbt >> publish_marts()

    return transform()
