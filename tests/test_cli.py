"""The `tessera` command: help everywhere, clear errors, and extraction outside Airflow."""

from __future__ import annotations

import json

import pytest
from tessera_simulator.demo import source_connections
from typer.testing import CliRunner

from tessera.cli import app
from tests.lake_reader import landed
from tests.sources import TOKEN, running_sources

runner = CliRunner()


@pytest.mark.unit
@pytest.mark.parametrize(
    "command",
    [
        [],
        ["demo"],
        ["simulate"],
        ["extract"],
        ["status"],
        ["transform"],
        ["explain"],
        ["train-matcher"],
        ["dbt-parse"],
        ["sync"],
    ],
)
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


@pytest.mark.unit
def test_an_unknown_source_is_a_clear_error_not_a_traceback(home):
    result = runner.invoke(app, ["extract", "erp", "--end", "2026-01-02T00:00:00"])
    assert result.exit_code == 1
    assert "unknown source 'erp'; known sources: crm, email, pos, web" in result.output
    assert "Traceback" not in result.output


@pytest.mark.unit
def test_a_missing_connection_names_the_variable_to_set(home, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_TESSERA_WEB", raising=False)
    result = runner.invoke(app, ["extract", "web", "--end", "2026-01-02T00:00:00"])
    assert result.exit_code == 1
    assert "AIRFLOW_CONN_TESSERA_WEB" in result.output


@pytest.mark.integration
def test_extract_lands_every_source_through_the_airflow_connections(home, monkeypatch):
    with running_sources(home.simulator, customers=100) as sources:
        for key, value in source_connections(home, sources.crm_url, sources.esp_url, TOKEN).items():
            monkeypatch.setenv(key, value)
        result = runner.invoke(app, ["extract", "--end", sources.sim.clock.isoformat()])
        assert result.exit_code == 0, result.output
    for source, stream in [("crm", "contacts"), ("email", "events"), ("pos", "transactions"), ("web", "events")]:
        assert f"{source}/{stream} batch upto-20260101T000000Z:" in result.output
        assert landed(home.lake, source, stream).num_rows > 0
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0 and "loyalty_members" in status.output


@pytest.mark.unit
def test_error_messages_are_printed_as_text_not_markup(home, monkeypatch):
    """A message with brackets (a pip extra, dbt's `[error]`) reaches the user whole."""
    import tessera.cli as cli

    def refuse() -> None:
        cli._fail(RuntimeError("this command needs the demo's simulated sources: pip install 'tessera[demo]'"))

    monkeypatch.setattr(cli, "_require_demo", refuse)
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 1
    assert "pip install 'tessera[demo]'" in " ".join(result.output.split())  # rich wraps long lines


@pytest.mark.unit
def test_status_shows_the_matcher_fits_and_why_they_were_made(home):
    assert "has not been fitted" in runner.invoke(app, ["status"]).output
    folder = home.root / "matcher"
    folder.mkdir(parents=True)
    fits = [
        {"version": 1, "fitted_at": "2026-01-01T00:00:00+00:00", "method": "sized", "reasons": ["first build"]},
        {
            "version": 2,
            "fitted_at": "2026-02-01T00:00:00+00:00",
            "method": "estimated",
            "reasons": ["records 800 -> 1,300"],
        },
    ]
    lines = [
        json.dumps({**fit, "profile": {"records": n, "agreement": {}}})
        for fit, n in zip(fits, (800, 1300), strict=True)
    ]
    (folder / "history.jsonl").write_text("\n".join(lines) + "\n")
    output = runner.invoke(app, ["status"], terminal_width=200).output
    assert "Matcher fits" in output and "estimated" in output and "records 800 -> 1,300" in output and "1,300" in output


def test_status_shows_the_predictors_versions_and_their_notes(home):
    assert "No predictors trained yet" in runner.invoke(app, ["status"]).output
    home.predictions.mkdir(parents=True)
    versions = [
        {"version": "v0001", "trained_at": "2026-01-03T00:00:00+00:00", "as_of": "2026-01-03",
         "churn_source": "purchase_model", "churn_auc": None, "notes": ["no purchase backtest: too little history"]},
        {"version": "v0002", "trained_at": "2026-07-05T03:00:00+00:00", "as_of": "2026-07-04",
         "churn_source": "classifier", "churn_auc": 0.8123, "notes": []},
    ]  # fmt: skip
    (home.predictions / "history.jsonl").write_text("".join(json.dumps(v) + "\n" for v in versions))
    output = runner.invoke(app, ["status"], terminal_width=200).output
    assert "Predictors" in output and "v0002" in output and "classifier" in output and "0.812" in output
    assert "v0001" in output and "n/a" in output  # trained on too little history for the classifier
