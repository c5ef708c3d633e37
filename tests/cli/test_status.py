"""`tessera status` beyond the lake: the warehouse's last build and what readers have, held batches, the
newest sync per destination, and the erasure requests served (from the audit log)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tessera.cli import app
from tests.cli.tiny_dbt_project import write_tiny_project

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Tables as a 200-column terminal shows them: one line per row."""
    from rich.console import Console

    import tessera.cli as cli

    monkeypatch.setattr(cli, "console", Console(width=200))


def status_output() -> str:
    result = runner.invoke(app, ["status"], terminal_width=300)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.unit
def test_a_new_home_says_nothing_was_built_held_or_erased(home):
    output = status_output()
    assert "The warehouse has not been built yet" in output
    assert "No batch is held." in output
    assert "No erasure request has been served." in output


@pytest.mark.unit
def test_the_erasure_requests_served_are_counted_and_the_newest_listed_without_identifiers(home):
    from tessera.audit import record_event

    digest = "ab" * 32
    record_event(home, "erasure", request="email", identifiers_sha256=[digest], counts={"lake": 3, "warehouse": 2,
                 "destinations": 0}, outcome="erased")  # fmt: skip
    record_event(home, "publication", tables={"golden_customers": 1})
    record_event(home, "erasure", request="crm_id", identifiers_sha256=["cd" * 32], counts={"lake": 0},
                 outcome="no records found")  # fmt: skip
    output = status_output()
    assert "Erasure requests served: 2 (newest 2)" in output
    erasures = output[output.index("Erasure requests served") :].splitlines()
    rows = [line for line in erasures if "│ email " in line or "│ crm_id " in line]
    assert len(rows) == 2 and "no records found" in rows[0] and "│ none " in rows[0]  # newest first
    assert "erased" in rows[1] and "│ lake 3, warehouse 2 │" in rows[1] and "user:" in rows[1]
    assert digest not in output


@pytest.mark.integration
def test_the_last_build_says_what_dbt_built_and_whether_readers_have_it(home, tmp_path, monkeypatch):
    from tessera.publication import publish_warehouse

    monkeypatch.setenv("TESSERA_DBT_PROJECT_DIR", str(write_tiny_project(tmp_path / "tiny")))
    built = runner.invoke(app, ["transform", "--select", "people+"])
    assert built.exit_code == 0, built.output
    output = status_output()
    (line,) = [line for line in output.splitlines() if line.startswith("Last dbt build: ")]
    assert "succeeded, 2 models, 1 test of the selection people+ (2 success, 1 pass); not published" in line
    assert "Nothing is published: readers have no marts yet." in output

    published = publish_warehouse(home)  # as a whole build would after its checks
    output = status_output()
    (line,) = [line for line in output.splitlines() if line.startswith("Last dbt build: ")]
    assert line.endswith("; published")
    assert (
        f"Published marts ({published.published_at:%Y-%m-%d %H:%M:%S} UTC, {published.path}): "
        "marts.people 2, marts.people_count 1"
    ) in output
