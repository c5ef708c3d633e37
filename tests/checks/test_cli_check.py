"""`tessera check` and `tessera status`: the gate outside Airflow, in the words an operator reads."""

from __future__ import annotations

import getpass
import json

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from connectors.lake import batch_state
from tessera.checks import releases_log
from tessera.cli import app
from tests.checks.conftest import batch_id, contacts, contract_table, land_pending, land_table

pytestmark = pytest.mark.unit

runner = CliRunner()


def int_ids_batch(home, day: int = 0):
    table = contract_table("crm", "contacts", batch_id(day), contacts(5))
    table = table.set_column(0, pa.field("contact_id", pa.int64()), pa.array(range(5), pa.int64()))
    return land_table(home.lake, "crm", "contacts", batch_id(day), table)


def test_check_has_help():
    result = runner.invoke(app, ["check", "--help"])
    assert result.exit_code == 0 and "--release" in result.output and "--marts" in result.output


def test_a_critical_failure_exits_1_with_the_message(home):
    folder = int_ids_batch(home)

    result = runner.invoke(app, ["check"])

    assert result.exit_code == 1, result.output
    assert batch_state(folder) == "held"
    assert f"crm.contacts batch {batch_id(0)}: HELD" in result.output
    assert (
        "expect_column_to_have_arrow_type on contact_id (critical): expected Arrow type string; observed int64"
        in result.output
    )
    assert f"tessera check --release crm.contacts {batch_id(0)} --reason" in result.output
    assert f"Data Docs: {home.root / 'checks' / 'data_docs' / 'index.html'}" in result.output
    assert "Traceback" not in result.output


def test_warnings_exit_0(home):
    table = contract_table("crm", "contacts", batch_id(0), contacts(5)).append_column(
        "loyalty_tier", pa.array(["gold"] * 5)
    )
    folder = land_table(home.lake, "crm", "contacts", batch_id(0), table)

    result = runner.invoke(app, ["check", "--stream", "crm.contacts"])

    assert result.exit_code == 0, result.output
    assert "passed with warnings" in result.output and "extra column(s) loyalty_tier" in result.output
    assert batch_state(folder) == "checked"
    assert "No batch is waiting" in runner.invoke(app, ["check"]).output
    assert "passed with warnings" in runner.invoke(app, ["check", "--all"]).output


def test_release_from_the_command_line_records_who(home):
    folder = int_ids_batch(home)
    runner.invoke(app, ["check"])

    released = runner.invoke(
        app, ["check", "--release", "crm.contacts", batch_id(0), "--reason", "ids are numeric since the migration"]
    )

    assert released.exit_code == 0, released.output
    assert batch_state(folder) == "released"
    (line,) = releases_log(home).read_text().splitlines()
    record = json.loads(line)
    assert (record["by"], record["stream"], record["batch_id"]) == (getpass.getuser(), "crm.contacts", batch_id(0))
    again = runner.invoke(app, ["check", "--release", "crm.contacts", batch_id(0), "--reason", "again"])
    assert again.exit_code == 1 and "is already released" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "--release", "crm.contacts", "20260101T000000Z"], "--release needs --reason"),
        (["check", "--stream", "crm"], "name a stream as SOURCE.STREAM"),
        (["check", "--stream", "crm.leads"], "source 'crm' has no stream 'leads'"),
        (["check", "--marts", "--all"], "--marts checks the marts"),
        (["check", "--reason", "because"], "--reason goes with --release"),
    ],
)
def test_wrong_arguments_are_clear_errors(home, args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_status_lists_held_batches_with_their_first_failure(home, monkeypatch):
    from rich.console import Console

    import tessera.cli as cli

    monkeypatch.setattr(cli, "console", Console(width=300))
    assert "No batch is held." in runner.invoke(app, ["status"]).output
    int_ids_batch(home, day=2)
    land_pending(home.lake, "crm", "contacts", 1, contacts(3))
    runner.invoke(app, ["check"])

    result = runner.invoke(app, ["status"])

    assert result.exit_code == 0, result.output
    assert "Held batches" in result.output
    assert "crm.contacts" in result.output and batch_id(2) in result.output and batch_id(1) not in result.output
    assert "expect_column_to_have_arrow_type on contact_id" in result.output
    assert "Data Docs:" in result.output
