"""Conventions every Tessera DAG keeps: it imports cleanly and fast, has docs, tags from the
fixed vocabulary, retries on network tasks, and extract DAGs publish an Asset per stream."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from connectors.registry import registry
from tessera.orchestration import tag_vocabulary
from tessera.resources import dags_folder

pytestmark = pytest.mark.unit

DAGS = dags_folder()
PRODUCER = "dbt.dbt_producer_watcher"


@pytest.fixture(scope="module")
def dagbag(dbt_manifest):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS), safe_mode=False)


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}


def test_expected_dags_and_tasks(dagbag):
    for source in registry().sources.values():
        dag = dagbag.dags.get(source.dag_id)
        assert dag is not None, f"missing {source.dag_id}"
        assert sorted(dag.task_ids) == sorted(
            f"{step}_{s}" for s in source.stream_names for step in ("check", "extract")
        )
        for stream in source.stream_names:  # each batch is checked right after it lands
            assert dag.get_task(f"check_{stream}").upstream_task_ids == {f"extract_{stream}"}


def test_every_dag_is_documented_and_tagged(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and "Triage" in dag.doc_md, f"{dag_id} lacks doc_md with triage notes"
        assert set(dag.tags) <= tag_vocabulary(), (
            f"{dag_id} uses tags outside the vocabulary: {set(dag.tags) - tag_vocabulary()}"
        )


def test_extract_dags_use_data_intervals_retries_and_assets(dagbag):
    from airflow.timetables.interval import CronDataIntervalTimetable

    for source in registry().sources.values():
        dag = dagbag.dags.get(source.dag_id)
        assert isinstance(dag.timetable, CronDataIntervalTimetable), "a plain cron schedule has no data window"
        assert dag.timetable.summary == source.schedule
        assert dag.max_active_runs == 1
        assert source.tag in dag.tags
        for contract in source.streams:
            task = dag.get_task(f"extract_{contract.stream}")
            assert task.retries >= 3 and task.retry_exponential_backoff
            assert task.on_failure_callback
            check = dag.get_task(f"check_{contract.stream}")
            assert check.retries == 0, "a failed check is a data problem: retrying it changes nothing"
            assert check.on_failure_callback
            # The Asset is published by the check, so a held batch triggers no transform.
            assert [a.uri for a in check.outlets] == [f"tessera://lake/raw/{contract.lake_path}"] and not task.outlets


def test_the_transform_dag_runs_incrementally_unless_asked_for_a_full_refresh(dagbag):
    dag = dagbag.dags["tessera_transform"]
    assert dag.params["full_refresh"] is False
    producer = dag.get_task(PRODUCER)
    assert producer.full_refresh == "{{ params.full_refresh }}" and "full_refresh" in producer.template_fields


def test_new_predictors_schedule_the_transform_which_then_builds_with_nothing_new_landed(dagbag):
    from airflow.sdk import Asset

    from tessera.orchestration import PREDICTORS_ASSET, triggered_by

    training = dagbag.dags["tessera_train_predictors"]
    assert training.schedule == "0 3 * * 0" and training.max_active_runs == 1
    assert [a.uri for a in training.get_task("train").outlets] == [PREDICTORS_ASSET.uri]
    assert training.get_task("train").retries == 3  # a build holding the warehouse lock is waited out
    transform = dagbag.dags["tessera_transform"]
    # every raw stream landed and checked, or new predictors
    condition = transform.timetable.asset_condition
    assert type(condition).__name__ == "AssetAny" and PREDICTORS_ASSET in condition.objects
    lake = Asset(name="tessera.lake.crm.contacts", uri="tessera://lake/raw/crm/contacts")
    assert triggered_by({PREDICTORS_ASSET: []}, PREDICTORS_ASSET)
    assert not triggered_by({lake: []}, PREDICTORS_ASSET) and not triggered_by(None, PREDICTORS_ASSET)


def test_the_transform_dag_checks_batches_first_and_publishes_only_checked_marts(dagbag):
    dag = dagbag.dags["tessera_transform"]
    first, new, check, publish = (
        dag.get_task(t) for t in ("check_pending_batches", "anything_new", "check_marts", "publish_marts")
    )
    assert not first.upstream_task_ids and new.upstream_task_ids == {first.task_id}
    assert dag.get_task(PRODUCER).upstream_task_ids == {new.task_id}
    dbt_tasks = {t.task_id for t in dag.tasks if t.task_id.startswith("dbt.")}
    # The mart checks wait for the whole build (the producer's end) and for every node task.
    assert f"{PRODUCER}_done" in check.upstream_task_ids <= dbt_tasks and check.retries == 0
    assert {t.task_id for t in dag.get_task(f"{PRODUCER}_done").get_flat_relatives(upstream=False)} == {
        "check_marts",
        "publish_marts",
    }
    # Published with what `anything_new` found the build would read.
    assert publish.upstream_task_ids == {"check_marts", "anything_new"}
    segments = {"lapsed_vips", "engaged_no_purchase", "new_loyalty_members", "one_time_buyers", "high_value_at_risk"}
    assert {a.uri for a in publish.outlets} == {
        "tessera://warehouse/marts/golden_customers",
        "tessera://warehouse/marts/customer_xref",
        *(f"tessera://warehouse/segments/{name}" for name in segments),
    }


def test_the_transform_dag_runs_dbt_once_and_shows_each_model_and_seed_as_a_task(dagbag, dbt_manifest):
    from cosmos.operators.watcher import DbtConsumerWatcherSensor, DbtProducerWatcherOperator

    from tessera.orchestration import export_dbt_environment, prepare_producer

    dag = dagbag.dags["tessera_transform"]
    producer = dag.get_task(PRODUCER)
    # One `dbt build` of everything but the exposures, tests included (no `--resource-type`), never retried.
    assert isinstance(producer, DbtProducerWatcherOperator) and producer.base_cmd == ["build"]
    assert producer.exclude == "resource_type:exposure" and "--resource-type" not in producer.dbt_cmd_flags
    assert producer.retries == 0 and producer._pre_execute_hook is prepare_producer
    manifest = json.loads(dbt_manifest.read_text())
    built = {uid for uid, n in manifest["nodes"].items() if n["resource_type"] in ("model", "seed")}
    nodes = [t for t in dag.tasks if t.task_id.startswith("dbt.") and t.task_id not in (PRODUCER, f"{PRODUCER}_done")]
    assert all(isinstance(t, DbtConsumerWatcherSensor) for t in nodes)
    assert sorted(t.model_unique_id for t in nodes) == sorted(built)
    for task in nodes:
        assert task.retries == 0 and task._pre_execute_hook is export_dbt_environment
        assert task.on_failure_callback and task._post_execute_hook
        # Every node task starts once the build has finished, so none waits beside it (DuckDB has one
        # writer, and `max_active_tasks` could leave the producer no slot); one without an upstream node
        # runs whether the build succeeded or failed, to report its node's result.
        assert PRODUCER in {t.task_id for t in task.get_flat_relatives(upstream=True)}
        if not task.upstream_task_ids - {PRODUCER}:
            assert task.upstream_task_ids == {PRODUCER} and task.trigger_rule == "one_done"
    # One task at a time on DuckDB (one writer per file): no deadlock, since no node task waits beside the build.
    assert dag.max_active_tasks == 1
    assert dag.get_task("dbt.int_identity_resolution_run").upstream_task_ids == {
        "dbt.int_identity_edge_screening_run",
        "dbt.identity_rules_seed",
    }


def test_each_node_task_answers_for_the_tests_declared_on_its_node(dbt_manifest):
    from tessera.orchestration import node_tests

    tests = node_tests(dbt_manifest)
    manifest = json.loads(dbt_manifest.read_text())
    every = {uid for uid, n in manifest["nodes"].items() if n["resource_type"] == "test"}
    assert sorted(uid for uids in tests.values() for uid in uids) == sorted(every)  # each test, once
    # A relationships test belongs to the segment that declares it, not to the mart it refers to.
    relationship = next(uid for uid in every if uid.startswith("test.tessera.relationships_lapsed_vips_customer_id"))
    assert relationship in tests["model.tessera.lapsed_vips"]
    assert relationship not in tests["model.tessera.golden_customers"]
    assert not any(uid.startswith("unit_test.") for uids in tests.values() for uid in uids)  # not in production
    assert "test.tessera.junk_placeholders_survive_seed_loading" in tests["seed.tessera.junk_values"]


def test_each_segment_has_an_activation_dag_with_a_task_per_destination(dagbag):
    """Generated from the manifest's `meta.activations`: a failing destination blocks no other."""
    assert sorted(dagbag.dags["tessera_activate_lapsed_vips"].task_ids) == ["sync_marketing_drop", "sync_meta_ads"]
    assert dagbag.dags["tessera_activate_engaged_no_purchase"].task_ids == ["sync_newsletter"]
    assert dagbag.dags["tessera_activate_new_loyalty_members"].task_ids == ["sync_crm"]
    one_time = [d for d in dagbag.dags if d.startswith("tessera_activate_one_time_buyers")]
    assert len(one_time) == 2, one_time  # two schedules: a DAG each
    task = dagbag.dags["tessera_activate_lapsed_vips"].get_task("sync_meta_ads")
    assert {a.uri for a in task.inlets} == {"tessera://warehouse/segments/lapsed_vips"}
    assert task.retries == 3 and task.on_failure_callback


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_dag_files_import_fast_and_light(dag_file, dbt_manifest):
    """Each DAG file imports fast (CPU time, so a busy machine does not fail it) and pulls in no heavy library.
    Extract DAGs take well under a second; the transform DAG also imports Cosmos and reads the dbt manifest."""
    budget = 2.0 if dag_file == "tessera_transform.py" else 1.0
    code = (
        "import sys, time, runpy\n"
        "import airflow.sdk, airflow.timetables.interval\n"  # Airflow itself is paid once per parser process
        "t = time.process_time()\n"
        f"runpy.run_path({str(DAGS / dag_file)!r})\n"
        "print('SECONDS', time.process_time() - t)\n"
        "heavy = [m for m in ('pandas', 'pyarrow', 'duckdb', 'great_expectations', 'dbt', 'httpx', 'sqlalchemy.orm')"
        " if m in sys.modules and m not in before]\n"
        "print('HEAVY', ','.join(heavy))\n"
    ).replace("t = time", "before = set(sys.modules)\nt = time")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    found = dict(line.split(" ", 1) for line in out.splitlines() if line.startswith(("SECONDS ", "HEAVY ")))
    seconds, heavy = float(found["SECONDS"]), found["HEAVY"].strip()
    assert seconds < budget, f"{dag_file} took {seconds:.2f}s of CPU to import"
    assert heavy == "", f"{dag_file} imports heavy libraries at parse time: {heavy}"


def test_dag_files_are_thin():
    for path in DAGS.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 40, f"{path.name} holds logic; move it to a package"
