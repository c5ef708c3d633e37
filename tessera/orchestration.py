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

from connectors.registry import Registry, Source, registry
from tessera.alerts import on_task_failure

#: The fixed tag vocabulary: a stage of the flow plus, for extract DAGs, the source.
STAGE_TAGS = frozenset({"collect", "unify", "check", "activate", "protect"})


def tag_vocabulary(sources: Registry | None = None) -> frozenset[str]:
    """Every tag a Tessera DAG may carry: `tessera`, the stages, and `source:<name>` per registered source."""
    return STAGE_TAGS | (sources or registry()).source_tags | {"tessera"}


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
Reads the {system} and lands these streams as Parquet under `$TESSERA_HOME/lake/raw/{source}/<stream>/batch_id=<interval start>/`
(contract: `docs/landing-contract.md`):

{streams}

Each run reads incrementally from the committed cursor,
re-reading a lookback window for late arrivals; re-running a run replaces its batch.

**Triage a failure:** the task log names the request or record that failed. Source errors
(429/5xx, timeouts) are retried with backoff inside the task and then by Airflow; a run that still
fails is safe to clear and re-run: it resumes from the last committed state, and a batch written
before a crash but never committed is removed and read again. Records that cannot be parsed do not
fail the run: they are counted in the log and kept with a reason under `lake/quarantine/{source}/`.
Each `check_<stream>` task then validates the batch it landed (`expectations/`, Great Expectations). A
critical failure fails that task with the suite, expectation, column and sample values and **holds the
batch**: it stays in the lake, the transform does not read it, and the stream's Asset is not published.
Fix the source and clear `extract_<stream>` (the re-run replaces the batch), or release it after review
with `tessera check --release {source}.<stream> <batch_id> --reason …`. Warnings never block.
Connection: `{conn_id}` (see `docs/connectors.md` and `connectors/sources/{source}/README.md`).
"""


def extract_dags(sources: Registry | None = None) -> dict[str, object]:
    """One extract DAG per registered source, by DAG id (what `dags/tessera_extract.py` publishes)."""
    built = [extract_dag(spec) for spec in (sources or registry()).sources.values()]
    return {d.dag_id: d for d in built}


def extract_dag(spec: Source):
    """One extract DAG for one source: a task per stream, each landing one batch per data interval."""
    source = spec.name
    streams = "\n".join(f"- `{c.name}`: {c.description}" for c in spec.streams)

    @dag(
        dag_id=spec.dag_id,
        schedule=CronDataIntervalTimetable(spec.schedule, timezone="UTC"),
        start_date=START_DATE,
        catchup=os.environ.get("TESSERA_CATCHUP", "false").lower() == "true",
        max_active_runs=1,
        default_args=NETWORK_TASK_ARGS,
        tags=["tessera", "collect", spec.tag],
        doc_md=EXTRACT_DOC.format(source=source, system=spec.system, conn_id=spec.conn_id, streams=streams),
    )
    def extract():
        for stream in spec.stream_names:

            @task(task_id=f"extract_{stream}")
            def extract_stream(stream: str = stream, **context: Any) -> dict[str, Any]:
                from tessera.collect import extract_source

                start = context.get("data_interval_start")
                end = context.get("data_interval_end") or context["dag_run"].run_after
                (result,) = extract_source(source, start, end, streams=(stream,))
                return {
                    "batch_id": result.batch_id,
                    "rows": result.rows,
                    "quarantined": result.quarantined,
                    "rerun": result.rerun,
                }

            # The Asset is published once the batch passed its checks: a held batch triggers nothing.
            @task(task_id=f"check_{stream}", outlets=[raw_asset(source, stream)], retries=0)
            def check_stream(extracted: dict[str, Any], stream: str = stream) -> dict[str, Any]:
                from tessera.gates import check_landed_batch

                return check_landed_batch(source, stream, extracted["batch_id"])

            check_stream(extract_stream())

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

**Checks.** `check_pending_batches` first checks batches other loaders landed (a batch that fails a
critical expectation is held, not read). After dbt, `check_marts` runs the golden suites: a critical
failure fails that task with the suite, expectation, column and sample values, and nothing is
published. `publish_marts` then swaps the new marts in for readers in one step and publishes the Assets
`tessera.marts.golden_customers` and `tessera.marts.customer_xref`. Results: Data Docs under
`$TESSERA_HOME/checks/` (`tessera check --marts` reruns the checks).
"""

MART_ASSETS = (
    Asset(name="tessera.marts.golden_customers", uri="tessera://warehouse/marts/golden_customers"),
    Asset(name="tessera.marts.customer_xref", uri="tessera://warehouse/marts/customer_xref"),
)


def segment_asset(segment: str) -> Asset:
    """The Asset a published segment updates: the build passed its checks and readers can sync it."""
    return Asset(name=f"tessera.segments.{segment}", uri=f"tessera://warehouse/segments/{segment}")


def export_dbt_environment(context: dict[str, Any]) -> None:
    """Run before each dbt task: Cosmos runs dbt in a copy of the project, where the profile's `../data`
    default would name another folder, so the data and project folders are resolved on the worker at run
    time, the way every Tessera command resolves them, and handed to dbt explicitly."""
    from tessera.dbt_runner import dbt_environment
    from tessera.home import tessera_home

    os.environ.update(dbt_environment(tessera_home()))


def transform_dag(sources: Registry | None = None):
    """The transform DAG: the dbt project as a Cosmos task group, scheduled on every raw stream's Asset."""
    from functools import reduce
    from operator import and_

    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode, TestBehavior

    from tessera.activation.activations import segment_models
    from tessera.resources import dbt_project_dir, manifest_path

    project, manifest = dbt_project_dir(), manifest_path()
    if not manifest.exists():
        raise FileNotFoundError(
            f"dbt manifest not found at {manifest}: run `tessera dbt-parse` (make install does) to render this DAG"
        )
    target = os.environ.get("TESSERA_DBT_TARGET", "duckdb")
    raw_assets = [raw_asset(c.source, c.stream) for c in (sources or registry()).streams]

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
            project_config=ProjectConfig(dbt_project_path=project, manifest_path=manifest),
            profile_config=ProfileConfig(
                profile_name="tessera", target_name=target, profiles_yml_filepath=project / "profiles.yml"
            ),
            render_config=RenderConfig(
                load_method=LoadMode.DBT_MANIFEST,
                # Exposures say who consumes a segment (dbt docs lineage); the activation DAGs sync them.
                exclude=["resource_type:exposure"],
                test_behavior=TestBehavior.BUILD,
                # A test on two models (relationships) runs once both are built, as its own task.
                should_detach_multiple_parents_tests=True,
                emit_datasets=False,
            ),
            execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
            # Templated per run: a manual run with {"full_refresh": true} passes --full-refresh to every node.
            operator_args={
                "install_deps": False,
                "full_refresh": "{{ params.full_refresh }}",
                "pre_execute": export_dbt_environment,
            },
        )

        @task(retries=0)
        def check_pending_batches() -> dict[str, Any]:
            """Batches another loader landed by the contract are checked before dbt reads the lake."""
            from tessera.gates import check_pending_batches

            return check_pending_batches()

        @task(retries=0)
        def check_marts() -> dict[str, Any]:
            """A critical failure stops here: nothing is published from marts that failed their checks."""
            from tessera.gates import check_built_marts

            return check_built_marts()

        @task(outlets=[*MART_ASSETS, *(segment_asset(name) for name in segment_models(manifest))])
        def publish_marts() -> dict[str, Any]:
            from tessera.home import tessera_home
            from tessera.publication import publish_warehouse

            return publish_warehouse(tessera_home()).summary()

        check_pending_batches() >> dbt >> check_marts() >> publish_marts()

    return transform()


ACTIVATE_DOC = """
### Activate {segment} → {destinations}
Syncs the segment `segments.{segment}` (a dbt model: `dbt_project/models/segments/{segment}.sql`, its
activations in the model's YAML) to each destination on the schedule `{schedule}`, one task per destination,
so a failing destination blocks no other. Each task reads the **published** warehouse: only a build whose
marts passed their checks is ever published, so nothing is synced from data that failed them.

A sync sends only what changed since the destination last confirmed it (adds, updates, removals) and
honours consent: members without marketing consent, or suppressed, never reach a marketing destination,
and a withdrawn consent removes them on the next run. State advances only on the destination's
confirmation, so a failed or killed run is safe to clear and re-run: it converges without duplicates.

**Triage a failure:** the task log names the destination's error. Rows the destination refused are in
the sync log with its own message and are retried on later runs; `tessera sync --segment {segment}
--destination <name> --dry-run` shows what the next run would send. Connections: `tessera_dest_<name>`
(docs/destinations.md).
"""


def activation_dags(manifest=None) -> dict[str, object]:
    """One activation DAG per segment and schedule, from the dbt manifest's `meta.activations`."""
    from tessera.activation.activations import read_activations
    from tessera.resources import manifest_path

    manifest = manifest or manifest_path()
    if not manifest.exists():
        raise FileNotFoundError(
            f"dbt manifest not found at {manifest}: run `tessera dbt-parse` (make install does) to render these DAGs"
        )
    groups: dict[tuple[str, str], list] = {}
    for activation in read_activations(manifest):
        groups.setdefault((activation.segment, activation.schedule), []).append(activation)
    schedules_per_segment: dict[str, int] = {}
    for segment, _ in groups:
        schedules_per_segment[segment] = schedules_per_segment.get(segment, 0) + 1
    built = {}
    for (segment, schedule), group in groups.items():
        dag_id = f"tessera_activate_{segment}"
        if schedules_per_segment[segment] > 1:
            dag_id += "_" + "".join(c if c.isalnum() else "_" for c in schedule).strip("_")
        built[dag_id] = activation_dag(dag_id, segment, schedule, [a.destination for a in group])
    return built


def activation_dag(dag_id: str, segment: str, schedule: str, destinations: list[str]):
    """One DAG syncing one segment to its destinations on one schedule: a task per destination."""
    from airflow.timetables.trigger import CronTriggerTimetable

    @dag(
        dag_id=dag_id,
        schedule=CronTriggerTimetable(schedule, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=NETWORK_TASK_ARGS,
        tags=["tessera", "activate"],
        doc_md=ACTIVATE_DOC.format(segment=segment, destinations=", ".join(destinations), schedule=schedule),
    )
    def activate():
        for destination in destinations:

            @task(task_id=f"sync_{destination}", inlets=[segment_asset(segment)])
            def sync_destination(destination: str = destination, **context: Any) -> dict[str, Any]:
                from tessera.activation.runs import sync_task

                return sync_task(segment, destination, context.get("logical_date"))

            sync_destination()

    return activate()
