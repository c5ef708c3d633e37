"""Builders for Tessera's Airflow DAGs, so each DAG file only names what it wires.

Imports here are Airflow's authoring SDK only: DAG parsing stays fast, and the heavy
libraries (pyarrow, duckdb, httpx …) load inside the tasks that use them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from connectors.registry import Registry, Source, registry
from tessera.alerts import on_task_failure
from tessera.logs import mask_task_logs
from tessera.telemetry import turn_off_telemetry

# Every process that parses or runs a Tessera DAG imports this module: no usage data leaves it, and what its
# tasks log is masked before it reaches the task log (before Cosmos reads its settings, which happens when the
# transform DAG is built or a Cosmos task runs).
turn_off_telemetry()
mask_task_logs()

#: The fixed tag vocabulary: a stage of the flow plus, for extract DAGs, the source.
STAGE_TAGS = frozenset({"collect", "unify", "check", "activate", "protect", "predict"})


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
Runs when every raw stream has published its Asset. `anything_new` first compares the lake's visible
batches (and the dbt project) with what the last published build read: when nothing new has landed (an
extract that found no rows still publishes its Asset), it skips everything after it, so such a run takes
a second or two and leaves the published marts as they are. A run with `{"full_refresh": true}` always builds.

dbt runs once: `dbt.dbt_producer_watcher` runs `dbt build` of the whole project, tests included (Cosmos's
watcher mode). Every model and seed is still a task of its own, rendered from the project's manifest
(`dbt.<model>_run`, `dbt.<seed>_seed`), in the graph's order: it starts once the build has finished and
reports its node's result from it, then the tests declared on that node. Node tasks do not run dbt
themselves: a failing model, or a model whose test failed, fails its own task, with dbt's message (the
failing test and its message) in the task's log. The identity resolution (`int_identity_resolution`, connected components
with merge protection) is one of those nodes, in its place in the graph.

The warehouse is DuckDB by default, so the DAG runs one task at a time (one writer per DuckDB file: the
producer, or a cleared node task re-running its node); on PostgreSQL raise `max_active_tasks`. That cannot
deadlock: node tasks wait for the build as downstream tasks of `dbt.dbt_producer_watcher`, not as sensors
running beside it (Cosmos's default), so none holds the one slot while dbt runs, and none polls Airflow then.

On Spark (`TESSERA_DBT_TARGET=spark`, the DAG rendered from the project parsed for Spark: `TESSERA_DBT_MANIFEST`)
the producer makes Tessera's Spark session before dbt runs and, once the build has succeeded, copies the built
tables into the DuckDB working file (`tessera/spark_serving.py`), which the checks, the publication and
activation read as on DuckDB. The DAG runs one task at a time there too: the Derby metastore under
`$TESSERA_HOME/spark` admits one process. A node is rebuilt by a new run, not by clearing its task (a node task
has no Spark session).

Runs are incremental: staging reads only the batches landed since the last run and stitching re-decides
only the customers whose identifiers changed. Trigger the DAG with `{"full_refresh": true}` to rebuild
everything from the whole lake (`dbt build --full-refresh`) after changing a model's columns, a
normalisation rule or a seed; customer ids stay stable either way.

**Triage a failure:** open the failed node task's log for dbt's message (the model's error, or each failing
test and its message); `dbt.dbt_producer_watcher` holds the whole build's log. Fix the model or the data,
then trigger the DAG again: nothing was published, so the new run builds. dbt tasks do not retry: Cosmos
runs one build per run (it skips a retried or cleared producer), and a cleared node task runs dbt for that
node alone. A model that stops on "schema ... out of sync" needs a run with `full_refresh`.
Analysts reproduce any node locally with `dbt build --select <model>` in `dbt_project/`.

**Checks.** `check_pending_batches` first checks batches other loaders landed (a batch that fails a
critical expectation is held, not read). After dbt, `check_marts` runs the golden suites; it runs only if
the whole `dbt build` succeeded. A critical failure fails that task with the suite, expectation, column and
sample values, and nothing is published. `publish_marts` then swaps the new marts in for readers in one
step, records what the build read from the lake (what `anything_new` compares with next time) and
publishes the Assets `tessera.marts.golden_customers` and `tessera.marts.customer_xref`.
Results: Data Docs under `$TESSERA_HOME/checks/` (`tessera check --marts` reruns the checks).
"""

MART_ASSETS = (
    Asset(name="tessera.marts.golden_customers", uri="tessera://warehouse/marts/golden_customers"),
    Asset(name="tessera.marts.customer_xref", uri="tessera://warehouse/marts/customer_xref"),
)


#: Updated when the weekly training DAG keeps a new version of the predictors: the transform then builds, even
#: with nothing new in the lake, so every buyer is scored with it.
PREDICTORS_ASSET = Asset(name="tessera.predictors", uri="tessera://predictions/current")


def segment_asset(segment: str) -> Asset:
    """The Asset a published segment updates: the build passed its checks and readers can sync it."""
    return Asset(name=f"tessera.segments.{segment}", uri=f"tessera://warehouse/segments/{segment}")


def export_dbt_environment(context: dict[str, Any]) -> None:
    """Run before each dbt task: Cosmos runs dbt in a copy of the project, where the profile's `../data`
    default would name another folder, so the data and project folders are resolved on the worker at run
    time, the way every Tessera command resolves them, and handed to dbt explicitly."""
    from tessera.dbt_runner import dbt_environment
    from tessera.home import tessera_home
    from tessera.logs import dbt_log_settings, mask_dbt_logs

    home = tessera_home()
    os.environ.update(dbt_environment(home))
    os.environ.update(dbt_log_settings(home))  # dbt's log under $TESSERA_HOME/logs/dbt/, not in the temporary copy
    mask_dbt_logs()


def prepare_producer(context: dict[str, Any]) -> None:
    """Run before the producer's `dbt build`: the dbt environment, and no copy of its results for a retry.
    Cosmos can copy every result it writes to an Airflow Variable so a retried producer can restore them;
    the producer never retries here, and that copy, rewritten whole after each result, made the build about
    a quarter longer on the embedded default."""
    from cosmos import settings

    export_dbt_environment(context)
    settings.enable_watcher_reliable_retry = False
    if builds_on_spark(context):
        # As `run_dbt` does for a spark target: dbt-spark's session method runs on the process's session
        # (`getOrCreate`), so Tessera's is made first, and Python models run on it too.
        from tessera.home import tessera_home
        from tessera.spark import spark_session
        from tessera.spark_python_models import install

        spark_session(tessera_home())
        install()


def serve_build(context: dict[str, Any], result: Any = None) -> None:
    """Run after the producer's `dbt build` succeeded: on Spark, copy the built tables into the DuckDB working
    file (`tessera/spark_serving.py`), which the checks, the publication and activation read. It runs in the
    producer's process, which holds the Spark session: the Derby metastore under `$TESSERA_HOME/spark` admits
    one process at a time, so no other task could open it while the producer runs."""
    if not builds_on_spark(context):
        return
    from tessera.home import tessera_home
    from tessera.spark_serving import serve_warehouse

    serve_warehouse(tessera_home())  # logs what it served


def builds_on_spark(context: dict[str, Any]) -> bool:
    """Whether the dbt task of `context` builds on a Spark target (its profile's target, as dbt runs it)."""
    from tessera.dbt_runner import target_type

    return target_type(context["task"].profile_config.target_name) == "spark"


#: The dbt project's hooks (on-run-start, on-run-end), which the manifest lists as `operation` nodes.
HOOK_NODES = "resource_type:operation"

#: dbt events that only say a node is under way; node tasks read results.
PROGRESS_EVENTS = frozenset({"NodeStart", "NodeCompiling", "NodeExecuting"})


def results_only(parse: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    """Cosmos's parser of dbt's JSON log lines, without the lines that only report a node under way: for
    each it writes the node's latest event to XCom (a call to Airflow's API), about 800 calls per build of
    this project that nothing reads. Results, errors and every logged message still reach the parser."""

    def parse_results(line: str, extra_kwargs: Any) -> None:
        try:
            name = json.loads(line).get("info", {}).get("name")
        except (ValueError, AttributeError):
            name = None
        if name not in PROGRESS_EVENTS:
            parse(line, extra_kwargs)

    return parse_results


def node_tests(manifest: Path) -> dict[str, tuple[str, ...]]:
    """The data tests each model or seed answers for, by its unique id: those declared on it (dbt's
    `attached_node`: a relationships test belongs to the model that declares it, not to the one it refers
    to), and every test of that node alone (a singular test). Unit tests are not part of a production build."""
    document = json.loads(manifest.read_text())
    tests: dict[str, list[str]] = {}
    for uid, node in sorted(document["nodes"].items()):
        if node["resource_type"] != "test":
            continue
        parents = node.get("depends_on", {}).get("nodes", [])
        owner = node.get("attached_node") or (parents[0] if len(parents) == 1 else None)
        if owner:
            tests.setdefault(owner, []).append(uid)
    return {owner: tuple(uids) for owner, uids in tests.items()}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class NodeTestsFailed(Exception):
    """A model or seed was built, but a test of it failed in the build."""


def failed_node_tests(context: dict[str, Any], tests: dict[str, tuple[str, ...]]) -> list[str]:
    """The tests of a node task's model or seed that failed in the build, each logged with dbt's message.
    Each test's last dbt event is in XCom: its result, or the report dbt writes after a failure (no status)."""
    from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
    from cosmos.operators._watcher.state import DBT_FAILED_STATUSES, get_dbt_event_xcom_key

    task, ti = context["task"], context["ti"]
    node = getattr(task, "model_unique_id", None)
    if not tests.get(node):
        return []
    producer = task.producer_task_id
    if ti.xcom_pull(task_ids=producer, key=get_tests_status_xcom_key(node)) == "pass":
        return []  # every data test on the node passed
    failed = []
    for test in tests[node]:
        event = ti.xcom_pull(task_ids=producer, key=get_dbt_event_xcom_key(test))
        status = str(event.get("status")) if event else "not run"
        if status in DBT_FAILED_STATUSES or status == "None":
            failed.append(test)
            task.log.error("%s failed: %s", test, _ANSI.sub("", event.get("msg") or "(no message)"))
    return failed


def report_node_tests(tests: dict[str, tuple[str, ...]]) -> Callable[..., None]:
    """After a node task found its model or seed built: fail it if a test of that node failed in the build,
    with each failing test and dbt's message in its log, as `dbt build --select <model>` would."""

    def check_tests(context: dict[str, Any], result: Any = None) -> None:
        failed = failed_node_tests(context, tests)
        if failed:
            raise NodeTestsFailed(
                f"{len(failed)} test(s) of {context['task'].model_unique_id} failed in the build: {', '.join(failed)};"
                f" dbt's messages are above, and the whole build's log is in {context['task'].producer_task_id}"
            )

    return check_tests


def log_node_tests(tests: dict[str, tuple[str, ...]]) -> Callable[..., None]:
    """When a node task fails: log the tests of its node that failed (a failed unit test stops its model);
    `report_node_tests` has logged them already when they are why it failed."""

    def log_failed(context: dict[str, Any]) -> None:
        if not isinstance(context.get("exception"), NodeTestsFailed):
            failed_node_tests(context, tests)

    return log_failed


def mirror_after_build(group, upstream) -> None:
    """Start the node tasks of a watcher-mode `DbtTaskGroup` once its producer (`dbt build`) has finished.

    Cosmos starts them beside the producer, as deferrable sensors polling its results. Here the producer runs
    after `upstream`, and the node tasks without an upstream node (the seeds, the first models) wait for it as
    downstream tasks that run whether it succeeded or failed (`one_done`), so each reports its node's result;
    when the producer did not run (skipped, or its upstream failed) they do not run either. No node task ever
    waits beside the build: none takes the slot it needs (the DAG runs one task at a time on DuckDB, and
    `dag.test()` always does, so a sensor started first would wait forever), and none polls Airflow meanwhile.

    The producer builds data tests too (Cosmos leaves them out of a build whose tests are not rendered as
    tasks), not unit tests (`PRODUCTION_BUILD_FLAGS`), and keeps its XCom writes to results (`results_only`).
    A node task that finds no result for its node (the build stopped before it) fails, pointing at the
    producer's log, instead of running dbt for its node."""
    from airflow.sdk import TriggerRule
    from cosmos.constants import PRODUCER_WATCHER_DONE_TASK_ID, PRODUCER_WATCHER_TASK_ID

    from tessera.dbt_runner import PRODUCTION_BUILD_FLAGS

    producer = group.tasks_map[PRODUCER_WATCHER_TASK_ID]
    producer.dbt_cmd_flags = list(PRODUCTION_BUILD_FLAGS)
    # Hooks are left out of the rendering only: dbt never selects them, and runs them around every build.
    producer.exclude = " ".join(item for item in (producer.exclude or "").split() if item != HOOK_NODES) or None
    parser = producer._make_parse_callable
    producer._make_parse_callable = lambda: results_only(parser())
    done = group.tasks_map[PRODUCER_WATCHER_DONE_TASK_ID]
    nodes = [t for t in group.iter_tasks() if t not in (producer, done)]
    roots = [t for t in nodes if not t.upstream_task_ids]
    for node in nodes:
        # Cosmos runs dbt for a node whose first look finds no result and a failed producer.
        node.poke_retry_number = 1
    upstream >> producer
    for node in roots:
        producer >> node
        node.trigger_rule = TriggerRule.ONE_DONE


def require_manifest_for(manifest: Path, target: str, engine: str) -> None:
    """The transform DAG mirrors the build's models, so it must be rendered from a manifest parsed for the
    target it builds on: the engines enable different models (only DuckDB builds `int_identity_edge_screening`,
    PostgreSQL no Python model), and a node task whose model the build does not have would wait for ever."""
    parsed_for = json.loads(manifest.read_text())["metadata"]["adapter_type"]
    if parsed_for != engine:
        raise ValueError(
            f"the dbt manifest {manifest} was parsed for {parsed_for}, but TESSERA_DBT_TARGET={target} builds on "
            f"{engine}: parse the project for that target (`dbt parse --target {target}`) and point "
            "TESSERA_DBT_MANIFEST at its manifest (docs/deploy.md, section 10)"
        )


def triggered_by(triggering_asset_events: Any, asset: Asset) -> bool:
    """Whether a run's triggering asset events include an update of `asset`."""
    keys = list(triggering_asset_events or ())
    return any(getattr(key, "uri", None) == asset.uri or getattr(key, "name", None) == asset.name for key in keys)


def transform_dag(sources: Registry | None = None):
    """The transform DAG: the dbt project as a Cosmos task group (one `dbt build`, a task per model and
    seed), scheduled on every raw stream's Asset, skipped when nothing new landed since the last publication."""
    from functools import reduce
    from operator import and_

    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    from tessera.activation.activations import segment_models
    from tessera.dbt_runner import target_type
    from tessera.resources import dbt_project_dir, manifest_path

    project, manifest = dbt_project_dir(), manifest_path()
    if not manifest.exists():
        raise FileNotFoundError(
            f"dbt manifest not found at {manifest}: run `tessera dbt-parse` (make install does) to render this DAG"
        )
    target = os.environ.get("TESSERA_DBT_TARGET", "duckdb")
    engine = target_type(target)
    require_manifest_for(manifest, target, engine)
    # DuckDB has one writer per file; Spark's Derby metastore admits one process at a time.
    one_at_a_time = engine in ("duckdb", "spark")
    raw_assets = [raw_asset(c.source, c.stream) for c in (sources or registry()).streams]

    @dag(
        dag_id="tessera_transform",
        schedule=reduce(and_, raw_assets) | PREDICTORS_ASSET,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        max_active_tasks=1 if one_at_a_time else 8,
        default_args={"retries": 1, "retry_delay": timedelta(minutes=1), "on_failure_callback": on_task_failure},
        tags=["tessera", "unify", "check"],
        doc_md=TRANSFORM_DOC,
        params={
            "full_refresh": Param(
                False, type="boolean", description="Rebuild every incremental model from the whole lake."
            ),
        },
    )
    def transform():
        from tessera.dbt_runner import forward_dbt_event

        tests = node_tests(manifest)
        dbt = DbtTaskGroup(
            group_id="dbt",
            project_config=ProjectConfig(dbt_project_path=project, manifest_path=manifest),
            profile_config=ProfileConfig(
                profile_name="tessera", target_name=target, profiles_yml_filepath=project / "profiles.yml"
            ),
            render_config=RenderConfig(
                load_method=LoadMode.DBT_MANIFEST,
                # Exposures say who consumes a segment (dbt docs lineage); the activation DAGs sync them. The
                # on-run-start/-end hooks (operations: the lake's source views) run inside the producer's
                # `dbt build`, not as tasks: Cosmos has no task for them, and warned on every parse.
                exclude=["resource_type:exposure", HOOK_NODES],
                # A task per model and seed; its tests are reported by it (`report_node_tests`).
                test_behavior=TestBehavior.NONE,
                emit_datasets=False,
            ),
            # One `dbt build`, in-process, in the producer task; the node tasks report its results.
            execution_config=ExecutionConfig(
                execution_mode=ExecutionMode.WATCHER,
                invocation_mode=InvocationMode.DBT_RUNNER,
                # Each node's progress reaches whoever listens in this process (`tessera demo` prints it).
                setup_operator_args={
                    "pre_execute": prepare_producer,
                    "post_execute": serve_build,
                    "dbt_runner_callbacks": [forward_dbt_event],
                },
            ),
            # Templated per run: a manual run with {"full_refresh": true} builds with --full-refresh.
            operator_args={
                "install_deps": False,
                "full_refresh": "{{ params.full_refresh }}",
                "pre_execute": export_dbt_environment,
                "post_execute": report_node_tests(tests),
                "on_failure_callback": [on_task_failure, log_node_tests(tests)],
                # A retried producer is skipped by Cosmos (one build per run), and a retried node task would
                # run dbt for its node: a failed build is fixed, then built again by a new run.
                "retries": 0,
            },
        )

        @task(retries=0)
        def check_pending_batches() -> dict[str, Any]:
            """Batches another loader landed by the contract are checked before dbt reads the lake."""
            from tessera.gates import check_pending_batches

            return check_pending_batches()

        @task.short_circuit
        def anything_new(
            params: dict[str, Any] | None = None, triggering_asset_events: Any = None
        ) -> dict[str, Any] | None:
            """What the build will read, or None (everything downstream skipped) when it is what the published
            build read. A full refresh, or a run that new predictors triggered, always builds."""
            from tessera.home import tessera_home
            from tessera.lake_snapshot import anything_new

            snapshot, changed = anything_new(tessera_home())
            forced = (params or {}).get("full_refresh") or triggered_by(triggering_asset_events, PREDICTORS_ASSET)
            return snapshot.to_dict() if changed or forced else None

        @task(retries=0)
        def check_marts() -> dict[str, Any]:
            """A critical failure stops here: nothing is published from marts that failed their checks."""
            from tessera.gates import check_built_marts

            return check_built_marts()

        @task(outlets=[*MART_ASSETS, *(segment_asset(name) for name in segment_models(manifest))])
        def publish_marts(read: dict[str, Any]) -> dict[str, Any]:
            """Readers get the checked marts in one step; what the build read is kept for the next `anything_new`."""
            from tessera.home import tessera_home
            from tessera.lake_snapshot import LakeSnapshot
            from tessera.publication import publish_warehouse

            return publish_warehouse(tessera_home(), lake=LakeSnapshot.from_dict(read)).summary()

        read = anything_new()
        check_pending_batches() >> read
        mirror_after_build(dbt, upstream=read)
        dbt >> check_marts() >> publish_marts(read)

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
