"""The transform DAG, run with `dag.test()`: one `dbt build` shown as a task per model and seed, a run with
nothing new since the last publication skips the build, and a failing model or test fails its own task."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from tessera.lake_snapshot import last_read, take_snapshot
from tessera.publication import last_publication
from tests.lake_writer import land, land_empty_streams
from tests.sources import running_sources, simulated_days

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PRODUCER = "dbt.dbt_producer_watcher"
#: What a run with nothing new leaves to run: the checks of pending batches and the comparison itself.
BEFORE_THE_BUILD = {"check_pending_batches", "anything_new"}


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture
def dbt_invocations(monkeypatch) -> list[list[str]]:
    """Every dbt command the DAG's tasks run (`dag.test()` runs them in this process)."""
    import cosmos.dbt.runner as runner

    calls: list[list[str]] = []
    original = runner.run_command

    def recorded(command, env, cwd, **kwargs):
        calls.append(command[1:])
        return original(command, env, cwd, **kwargs)

    monkeypatch.setattr(runner, "run_command", recorded)
    return calls


@pytest.fixture
def transform(dbt_manifest):
    """The transform DAG as the DAG folder defines it."""
    from airflow.dag_processing.dagbag import DagBag

    from tessera.resources import dags_folder

    return DagBag(dag_folder=str(dags_folder() / "tessera_transform.py"), safe_mode=False).dags["tessera_transform"]


def test_one_build_shown_node_by_node_then_a_run_with_nothing_new_skips_it(
    home, airflow_db, transform, dbt_invocations
):
    with running_sources(home.simulator, customers=300) as sources:
        days = simulated_days(sources, home, days=2)
        next(days)
        first = transform.test(logical_date=sources.sim.clock)

        assert str(first.state) == "success" and set(states(first).values()) == {"success"}
        # dbt ran once, the whole project; every model and seed task reported from that build.
        assert [command[0] for command in dbt_invocations] == ["build"]
        assert {"dbt.int_identity_resolution_run", "dbt.golden_customers_run", "dbt.identity_rules_seed"} <= set(
            states(first)
        )
        with duckdb.connect(str(home.warehouse), read_only=True) as con:
            customers = con.execute("select count(*) from marts.golden_customers").fetchone()[0]
            xref = con.execute("select count(distinct customer_id) from marts.customer_xref").fetchone()[0]
        assert customers == xref > 200
        published = last_publication(home)
        assert published is not None and last_read(home) == take_snapshot(home)

        # Every extract published its Asset, but nothing new landed: the run stops before dbt.
        quiet = transform.test(logical_date=sources.sim.clock + timedelta(hours=1))
        assert str(quiet.state) == "success"
        ran = {task for task, state in states(quiet).items() if state == "success"}
        assert ran == BEFORE_THE_BUILD
        assert {state for task, state in states(quiet).items() if task not in ran} == {"skipped"}
        assert len(dbt_invocations) == 1 and last_publication(home) == published
        # A full refresh is never skipped.
        anything_new = transform.get_task("anything_new").python_callable
        assert anything_new(params={"full_refresh": False}) is None
        assert anything_new(params={"full_refresh": True}) == take_snapshot(home).to_dict()

        next(days)  # the next day lands
        again = transform.test(logical_date=sources.sim.clock)
    assert set(states(again).values()) == {"success"}
    assert [command[0] for command in dbt_invocations] == ["build", "build"]
    assert last_publication(home).published_at > published.published_at
    assert last_read(home) == take_snapshot(home) != published


#: Added to a copy of the project: a model that fails, one that depends on it, a test that fails, and a unit test
#: that fails (production builds leave unit tests to development and CI, so its model builds).
BROKEN = {
    "models/marts/broken_on_purpose.sql": "select no_such_column from {{ ref('countries') }}\n",
    "models/marts/after_broken_on_purpose.sql": "select * from {{ ref('broken_on_purpose') }}\n",
    "tests/customer_xref_fails_on_purpose.sql": "select customer_id from {{ ref('customer_xref') }} limit 2\n",
    "models/marts/unit_tested_on_purpose.sql": "select 1 as x from {{ ref('countries') }} limit 1\n",
    "models/marts/_on_purpose.yml": """version: 2
unit_tests:
  - name: unit_tested_on_purpose_expects_two
    model: unit_tested_on_purpose
    given:
      - input: ref('countries')
        format: sql
        rows: select 'x' as iso2
    expect:
      rows:
        - {x: 2}
""",
}


def test_a_failing_model_or_test_fails_its_own_task_and_nothing_is_published(
    home, airflow_db, tmp_path, monkeypatch, dbt_invocations, capfd, caplog
):
    from tessera.dbt_runner import parse_project
    from tessera.orchestration import transform_dag
    from tessera.resources import dbt_project_dir

    project = tmp_path / "dbt_project"
    shutil.copytree(dbt_project_dir(), project, ignore=shutil.ignore_patterns("target", "logs"))
    for path, text in BROKEN.items():
        (project / path).write_text(text)
    monkeypatch.setenv("TESSERA_DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("TESSERA_DBT_MANIFEST", str(project / "target" / "manifest.json"))
    parse_project(home, force=True)
    day = datetime(2026, 1, 1, 12, tzinfo=UTC)
    contacts = [
        {"contact_id": c, "email": f"{c}@example.com", "is_deleted": False, "updated_at": day, "created_at": day}
        for c in ("A", "B", "C")
    ]
    land(home.lake, "crm", "contacts", "20260101T000000Z", contacts)
    land_empty_streams(home.lake)

    run = transform_dag().test(logical_date=day)

    assert str(run.state) == "failed"
    by_state: dict[str, set[str]] = {}
    for task, state in states(run).items():
        by_state.setdefault(state, set()).add(task)
    assert by_state["failed"] == {
        PRODUCER,
        "dbt.broken_on_purpose_run",  # the model's own error
        "dbt.customer_xref_run",  # built, but a test declared on it failed
    }
    assert {"dbt.after_broken_on_purpose_run", "check_marts", "publish_marts"} <= by_state["upstream_failed"]
    assert {"dbt.golden_customers_run", "dbt.unit_tested_on_purpose_run"} <= by_state["success"]
    # The node tasks read the build's results: dbt ran once, and nothing was published.
    assert [command[0] for command in dbt_invocations] == ["build"]
    assert last_publication(home) is None
    captured = capfd.readouterr()
    logged = captured.out + captured.err + caplog.text  # the task logs, as the tasks write them
    assert 'Referenced column "no_such_column" not found' in logged
    assert "test.tessera.customer_xref_fails_on_purpose failed: Got 2 results, configured to fail if != 0" in logged
    assert "unit_tested_on_purpose_expects_two" not in logged
