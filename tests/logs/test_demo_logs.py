"""`tessera demo`, run as a user runs it: its logs are kept per run and task under `$TESSERA_HOME/logs/`, in one
format, and nothing it writes or prints holds an e-mail address or a phone number of the simulated people."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
#: Airflow's own console format (structlog), which the demo no longer prints.
STRUCTLOG_LINE = re.compile(r"^\S+ \[(debug|info|warning|error)\s*\]", re.MULTILINE)
LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


def identifiers_in_lake(lake: Path) -> set[str]:
    """Every e-mail and phone value the sources delivered, as they wrote them."""
    values: set[str] = set()
    for path in (lake / "raw").rglob("*.parquet"):
        table = pq.read_table(path)
        for name in table.column_names:
            if "email" in name or "phone" in name:
                values |= {v.strip() for v in table.column(name).to_pylist() if isinstance(v, str) and len(v) > 6}
    return values


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    """The demo in a fresh home with its own Airflow home, as `tessera demo` runs from a shell."""
    home = tmp_path_factory.mktemp("demo") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TESSERA_", "DBT_"))}
    env |= {"TESSERA_HOME": str(home), "COLUMNS": "120"}
    tessera = Path(sys.executable).with_name("tessera")
    done = subprocess.run(
        [str(tessera), "demo", "--customers", "150", "--days", "1"],
        env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    return home, output


def test_no_log_and_no_output_holds_an_email_or_a_phone(demo):
    home, output = demo
    values = identifiers_in_lake(home / "lake")
    assert len([v for v in values if "@" in v]) > 50 and len([v for v in values if "@" not in v]) > 50
    files = [p for p in (home / "logs").rglob("*") if p.is_file()]
    assert files
    for name, text in [*((str(p), p.read_text(errors="replace")) for p in files), ("the CLI's output", output)]:
        assert [m for m in EMAIL.findall(text) if "***@" not in m] == [], name
        assert [v for v in values if v in text] == [], name


def test_task_logs_are_kept_per_run_and_task_for_every_kind_of_dag(demo):
    home, _ = demo
    airflow = home / "logs" / "airflow"
    dags = {p.name for p in airflow.iterdir()}
    assert {"tessera_extract_crm", "tessera_extract_email", "tessera_extract_pos", "tessera_extract_web"} <= dags
    assert "tessera_transform" in dags and any(d.startswith("tessera_activate_") for d in dags)
    for dag in airflow.iterdir():
        (run,) = dag.iterdir()  # one run of each DAG in a one-day demo
        tasks = {p.name for p in run.iterdir()}
        assert tasks, dag
        for path in run.iterdir():
            lines = path.read_text().splitlines()
            assert lines[0].startswith(tuple(f"{y}-" for y in range(2020, 2100))), path
            assert f"task {dag.name}.{path.stem} of run {run.name}" in lines[0], path
    crm_run = next((airflow / "tessera_extract_crm").iterdir())
    assert {"extract_contacts.log", "check_contacts.log"} <= {p.name for p in crm_run.iterdir()}
    assert "rows landed" in (crm_run / "extract_contacts.log").read_text()
    transform_run = next((airflow / "tessera_transform").iterdir())
    producer = (transform_run / "dbt.dbt_producer_watcher.log").read_text()
    assert "golden_customers" in producer
    assert (transform_run / "publish_marts.log").exists()
    activation = next(d for d in airflow.iterdir() if d.name.startswith("tessera_activate_"))
    assert all(p.name.startswith("sync_") for p in next(activation.iterdir()).iterdir())


def test_dbt_and_the_command_keep_their_logs_under_the_home(demo):
    home, _ = demo
    dbt_log = home / "logs" / "dbt" / "dbt.log"
    assert "Running with dbt=" in dbt_log.read_text()
    (command_log,) = (home / "logs" / "cli").glob("demo-*.log")
    assert "connectors.extraction" in command_log.read_text()


def test_the_demo_prints_one_log_format_and_no_cosmos_conversion_warnings(demo):
    home, output = demo
    assert "Unavailable conversion function" not in output
    assert not STRUCTLOG_LINE.search(output), output[:3000]
    warnings = [line for line in output.splitlines() if " WARNING " in line]
    assert any("quarantine" in line for line in warnings)
    assert all(LOG_LINE.match(line) for line in warnings), warnings
