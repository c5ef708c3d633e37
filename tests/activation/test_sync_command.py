"""`tessera sync`: the manifest's activations, connections from the environment, a table, and exit 1 when a
destination failed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tessera.activation.state import sync_log
from tessera.audit import audit_entries
from tessera.cli import app
from tessera.connections import connection_env
from tests.activation.published import World, people, publish

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def world(home, monkeypatch, dbt_manifest) -> World:
    monkeypatch.setenv("TESSERA_DBT_MANIFEST", str(dbt_manifest))
    customers = people(12)
    world = World(customers=customers, segments={"lapsed_vips": [{"customer_id": key} for key in list(customers)[:8]]})
    publish(home, world)
    return world


def test_a_dry_run_plans_and_a_sync_delivers_the_file(home, world, monkeypatch):
    drop = home.root / "drop"
    for key, value in connection_env(
        "tessera_dest_marketing_drop", conn_type="fs", extra={"kind": "files", "path": str(drop)}
    ).items():
        monkeypatch.setenv(key, value)
    args = ["sync", "--segment", "lapsed_vips", "--destination", "marketing_drop"]

    planned = runner.invoke(app, [*args, "--dry-run"], env={"COLUMNS": "200"})
    assert planned.exit_code == 0, planned.output
    assert "dry run: nothing sent" in planned.output and not drop.exists()

    done = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    latest = json.loads((drop / "lapsed_vips" / "latest.json").read_text())
    assert latest["rows"] == 8
    (logged,) = sync_log(home)
    assert (logged["status"], logged["added"]) == ("success", 8)
    (audited,) = audit_entries(home, "sync")  # the dry run sent nothing, so it is not in the audit log
    assert audited["details"]["destination"] == "marketing_drop" and audited["details"]["added"] == 8


def test_a_failing_destination_exits_1_and_names_it(home, world, monkeypatch):
    extra = {"kind": "ad_audience", "audience_id": "1", "max_attempts": 1, "initial_wait_seconds": 0.01}
    for key, value in connection_env(
        "tessera_dest_meta_ads", conn_type="http", host="http://127.0.0.1:9", password="t", extra=extra
    ).items():
        monkeypatch.setenv(key, value)

    result = runner.invoke(
        app, ["sync", "--segment", "lapsed_vips", "--destination", "meta_ads"], env={"COLUMNS": "200"}
    )

    assert result.exit_code == 1
    assert "failed: lapsed_vips -> meta_ads" in result.output


def test_an_unknown_segment_lists_the_activations(home, world):
    result = runner.invoke(app, ["sync", "--segment", "nobody"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "no activation matches segment 'nobody'" in result.output and "lapsed_vips -> meta_ads" in result.output
