"""Errors people can act on: one line naming what is wrong, never a traceback, and external text (ids,
dbt's and the checks' messages, destinations' errors) printed as text, not read as Rich markup."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from typer.testing import CliRunner

import tessera.cli as cli
from tessera.cli import app

pytestmark = pytest.mark.unit

runner = CliRunner()

#: Text that Rich would read as markup: a closing tag that closes nothing (MarkupError), and a style.
MARKUP = "[/x] and [bold]"


def one_line_error(result) -> str:
    """The command's error: exactly one line, `error: …`, and no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.mark.parametrize("option", ["--end", "--start"])
def test_a_window_bound_that_is_not_a_time_names_the_option_and_shows_one_that_is(home, option):
    result = runner.invoke(app, ["extract", "crm", option, "garbage"], terminal_width=200)
    assert one_line_error(result) == (f"error: {option}: 'garbage' is not an ISO-8601 time, e.g. 2026-01-31T00:00:00Z")
    assert not (home.root / "lake").exists()  # refused before anything ran


def test_a_window_bound_with_a_zone_letter_is_a_time(home):
    result = runner.invoke(app, ["extract", "erp", "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-02"])
    assert "unknown source 'erp'" in one_line_error(result)  # the times passed; the source is what is wrong


@pytest.fixture
def home_under_a_file(tmp_path, monkeypatch):
    """A $TESSERA_HOME that cannot be created: its parent is a file (permissions do not stop root)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("TESSERA_HOME", str(blocker / "home"))
    return blocker / "home"


@pytest.mark.parametrize(
    "command",
    [["demo", "--customers", "50", "--days", "1"], ["transform"], ["extract", "crm"], ["check"], ["dbt-parse"]],
)
def test_a_home_that_cannot_be_written_is_one_line_naming_it(home_under_a_file, command):
    line = one_line_error(runner.invoke(app, command, terminal_width=300))
    assert line.startswith(f"error: TESSERA_HOME {home_under_a_file} is not a folder this user can write (")
    assert line.endswith("point TESSERA_HOME at one that is")


def test_an_error_message_is_printed_as_text_not_markup(home):
    result = runner.invoke(app, ["explain", MARKUP], terminal_width=300)
    assert one_line_error(result).startswith("error: no published warehouse at")
    screen = io.StringIO()
    cli.console = Console(file=screen, width=300)
    try:
        with pytest.raises(cli.typer.Exit):
            cli._fail(RuntimeError(f"dbt said {MARKUP}, ending in a backslash \\"))
    finally:
        cli.console = Console()
    assert screen.getvalue() == f"error: dbt said {MARKUP}, ending in a backslash \\\n"


@pytest.fixture
def screen(monkeypatch) -> io.StringIO:
    """What the CLI's console prints, as a 300-column terminal without colours would show it."""
    output = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=output, width=300, color_system=None))
    return output


def test_check_results_show_expectations_columns_and_values_as_text(screen):
    from tessera.checks.results import CheckResult, Failure

    failure = Failure(
        suite="crm.contacts",
        expectation_type="expect_column_values_to_match_regex",
        column=f"notes {MARKUP}",
        severity="critical",
        observed=f"2 values like {MARKUP}",
        sample_values=(MARKUP,),
        expected="a pattern",
    )
    result = CheckResult(
        suite="crm.contacts", target="lake", passed=False, critical=[failure], batch_id="b1", expectations=3, rows=10
    )
    cli._print_check(result)
    printed = screen.getvalue()
    assert f"notes {MARKUP}" in printed and f"failed: 2 values like {MARKUP} (e.g. {MARKUP})" in printed


def test_sync_results_show_destinations_errors_as_text(screen):
    from tessera.activation.engine import SyncResult

    result = SyncResult(segment="vips", destination="crm", mode="upsert", run_id="r1", status="failed",
                        location=f"https://crm.example/{MARKUP}",
                        samples={"invalid": [], "rejected": [("cus_1", f"refused: {MARKUP}")]})  # fmt: skip
    cli._print_syncs([result], dry_run=False)
    printed = screen.getvalue()
    assert f"vips -> crm: https://crm.example/{MARKUP}" in printed
    assert f"  rejected cus_1: refused: {MARKUP}" in printed


def test_dbt_progress_lines_show_node_names_as_text(screen):
    from tessera.dbt_runner import NodeProgress

    with cli._ProgressDisplay("building") as shown:
        shown.node(NodeProgress(done=1, total=1, node=MARKUP, resource_type="model", status="error"))
    assert f"dbt: 1/1 nodes done, latest model {MARKUP}: error" in screen.getvalue()
