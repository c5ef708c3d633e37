"""What `tessera transform` prints of a dbt build: progress per node, a short summary, dbt's failures as
plain text, and never a colour code when the output is not a terminal (`-v` adds dbt's own output)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tessera.dbt_runner import dbt_log_path
from tests.cli.tiny_dbt_project import write_tiny_project

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture
def tiny_project(tmp_path, monkeypatch, home):
    project = write_tiny_project(tmp_path / "tiny")
    monkeypatch.setenv("TESSERA_DBT_PROJECT_DIR", str(project))
    return project


def transform(*options: str):
    from tessera.cli import app

    return runner.invoke(app, [*options, "transform", "--select", "people+"])


def test_a_build_prints_its_progress_and_a_short_summary_without_colour_codes(tiny_project, home):
    result = transform()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # Not a terminal: a plain line as the build goes (every tenth of it; here every node), not a spinner.
    progress = [line for line in lines if line.startswith("dbt: ")]
    assert progress == [
        "dbt: 1/3 nodes done, latest model people: success",
        "dbt: 2/3 nodes done, latest test not_null_people_person_id: pass",
        "dbt: 3/3 nodes done, latest model people_count: success",
    ]
    log_file = dbt_log_path(home)
    assert f"dbt build: 3 nodes: 2 success, 1 pass (dbt's whole output: {log_file})" in lines
    assert "\x1b[" not in result.output
    assert len(lines) < 10, result.output  # dbt's own ~20 lines stay in its log
    assert "Completed successfully" not in result.output
    assert "Completed successfully" in log_file.read_text()


def test_verbose_shows_dbts_whole_output_still_without_colour_codes(tiny_project):
    result = transform("-v")
    assert result.exit_code == 0, result.output
    assert "Completed successfully" in result.output and "OK created sql table model marts.people" in result.output
    assert "\x1b[" not in result.output


def test_a_failing_model_is_a_short_summary_and_its_message_is_text_not_markup(tmp_path, monkeypatch, home):
    """DuckDB's message names the missing table `[/x]`: as Rich markup that would be a closing tag that
    closes nothing (a MarkupError that hides the message)."""
    project = write_tiny_project(tmp_path / "tiny", failing_sql='select * from "[/x]" cross join "[bold]"')
    monkeypatch.setenv("TESSERA_DBT_PROJECT_DIR", str(project))
    from tessera.cli import app

    result = runner.invoke(app, ["transform", "--select", "people+ broken"])
    assert result.exit_code == 1
    output = result.output
    assert "Traceback" not in output and "\x1b[" not in output
    assert "dbt: 4/4 nodes done" in output
    assert "error: dbt build" in output and "did not succeed (4 nodes: 2 success, 1 error, 1 pass)" in output
    assert "model.tiny.broken [error]" in output and "[/x]" in output
    assert f"dbt's whole output: {dbt_log_path(home)}" in output


def test_on_a_terminal_the_build_is_a_live_bar_with_done_of_total_and_the_current_node(tiny_project, monkeypatch):
    import io

    from rich.console import Console

    import tessera.cli as cli

    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, force_terminal=True, width=120))
    result = transform()
    assert result.exit_code == 0, result.output
    drawn = screen.getvalue()
    assert "\x1b[" in drawn  # a terminal gets the live bar, in colour
    assert "dbt: success people_count" in drawn and "3/3" in drawn  # the last frame, drawn as the bar closes
    assert "nodes done, latest" not in drawn  # the plain lines are for logs and pipes


def test_a_dbt_run_started_elsewhere_in_the_process_reports_progress_through_the_forwarder(tiny_project, home):
    """The demo's transform runs dbt inside Cosmos's producer task (in this process, under `dag.test()`):
    a run that passes `forward_dbt_event` among its callbacks reports to whoever listens meanwhile."""
    from dbt.cli.main import dbtRunner

    from tessera.connections import exported
    from tessera.dbt_runner import dbt_environment, dbt_progress_to, forward_dbt_event

    heard = []
    args = ["build", "--project-dir", str(tiny_project), "--profiles-dir", str(tiny_project), "--log-level", "none",
            "--target-path", str(home.root / "elsewhere" / "target"), "--log-path", str(home.root / "elsewhere")]  # fmt: skip
    home.root.mkdir(parents=True)
    with exported(dbt_environment(home)), dbt_progress_to(heard.append):
        assert dbtRunner(callbacks=[forward_dbt_event]).invoke(args).success
    finished = [(p.done, p.total, p.node, p.status) for p in heard if p.status is not None]
    assert finished == [
        (1, 3, "people", "success"),
        (2, 3, "not_null_people_person_id", "pass"),
        (3, 3, "people_count", "success"),
    ]
    assert [p.node for p in heard if p.status is None] == ["people", "not_null_people_person_id", "people_count"]
    with exported(dbt_environment(home)):  # nobody listens once the block has ended
        assert dbtRunner(callbacks=[forward_dbt_event]).invoke(args).success
    assert len(heard) == 6
