"""A task run through the embedded default keeps its own log under `$TESSERA_HOME/logs/airflow/`, and a failed
task's log holds its error and the alert, where the error message of the run points."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from tessera_simulator.demo import source_connections

from tessera.logs import task_log_path
from tests.sources import TOKEN, running_sources

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_failed_tasks_log_holds_its_error(home, airflow_db, monkeypatch):
    from tessera.airflow_local import configure, run_dag

    configure(home)
    with running_sources(home.simulator, customers=100) as sources:
        for key, value in source_connections(home, sources.crm_url, sources.esp_url, TOKEN).items():
            monkeypatch.setenv(key, value)
        sim = sources.sim
        sim.advance(days=1)
        # The till system's export breaks: loyalty members arrive with a hash where the e-mail should be.
        engine = sa.create_engine(f"sqlite:///{home.simulator / 'pos.sqlite'}")
        changed = (sim.clock - timedelta(hours=2)).replace(tzinfo=None)
        with engine.begin() as con:
            con.execute(
                sa.text(
                    "insert into loyalty_members (loyalty_id, first_name, last_name, email, enrolled_at, updated_at) "
                    "values (:id, 'Broken', 'Feed', :email, :at, :at)"
                ),
                [{"id": f"BROKEN{i:05d}", "email": hashlib.sha256(str(i).encode()).hexdigest(), "at": changed}
                 for i in range(300)],
            )  # fmt: skip
        engine.dispose()

        with pytest.raises(RuntimeError, match=re.escape("failed: ['check_loyalty_members']")) as failure:
            run_dag("tessera_extract_pos", sim.clock)

    (run,) = (home.root / "logs" / "airflow" / "tessera_extract_pos").iterdir()
    failed = task_log_path(home, "tessera_extract_pos", run.name, "check_loyalty_members")
    assert f"task logs: {failed}" in str(failure.value)
    text = failed.read_text()
    assert "CheckFailed" in text and "pos.loyalty_members" in text and "email" in text
    assert re.search(r"^\S+Z ERROR tessera\.alerts: TESSERA ALERT task failed: dag=tessera_extract_pos "
                     r"task=check_loyalty_members", text, re.MULTILINE)  # fmt: skip
    # Each task of the run has its own file; the healthy stream's tasks hold no error.
    assert {p.name for p in run.iterdir()} == {
        "extract_loyalty_members.log", "check_loyalty_members.log", "extract_transactions.log",
        "check_transactions.log",
    }  # fmt: skip
    assert "rows landed" in (run / "extract_loyalty_members.log").read_text()
    assert " ERROR " not in (run / "check_transactions.log").read_text()
