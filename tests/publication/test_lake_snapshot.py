"""What a build read, kept by its publication: the next transform compares it with the lake and skips a
run when nothing new has landed (`tessera/lake_snapshot.py`)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import duckdb
import pytest

from connectors.contract import contract_for
from connectors.lake import HELD, SUCCESS, write_marker
from tessera.checks.holds import release_batch
from tessera.dbt_runner import run_transform
from tessera.home import TesseraHome
from tessera.lake_snapshot import PROJECT, LakeSnapshot, anything_new, last_read, take_snapshot
from tessera.publication import manifest_path, publish_warehouse
from tests.lake_writer import land, land_empty_streams
from tests.publication import toy_build

DAY = datetime(2026, 1, 1, 12, tzinfo=UTC)


def contact(contact_id: str) -> dict:
    return {"contact_id": contact_id, "email": f"{contact_id}@example.com", "is_deleted": False,
            "updated_at": DAY, "created_at": DAY}  # fmt: skip


def built(home: TesseraHome) -> TesseraHome:
    """A working warehouse with marts (the stand-in build), ready to publish."""
    home.root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(home.warehouse)) as con:
        toy_build.build(con, generation=1, customers=10)
    return home


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A dbt project of a few files, with dbt's output folders, for the snapshot to digest."""
    folder = tmp_path / "dbt_project"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "golden.sql").write_text("select 1 as customer_id\n")
    (folder / "dbt_project.yml").write_text("name: tessera\n")
    for output in ("target", "logs"):
        (folder / output).mkdir()
        (folder / output / "run.json").write_text("{}")
    monkeypatch.setenv("TESSERA_DBT_PROJECT_DIR", str(folder))
    return folder


@pytest.mark.unit
def test_a_snapshot_holds_each_streams_visible_batches(home, project):
    lake = home.lake
    land(lake, "crm", "contacts", "upto-20260102T000000Z", [contact("a")])
    land(lake, "crm", "contacts", "20260102T000000Z", [contact("b")])
    land(lake, "crm", "contacts", "20260103T000000Z", [contact("c")], visible=False)  # being written
    held = land(lake, "crm", "contacts", "20260104T000000Z", [contact("d")], visible=False)
    write_marker(held, SUCCESS)
    write_marker(held, HELD, {"at": DAY.isoformat(), "failures": []})

    snapshot = take_snapshot(home)
    crm = snapshot.streams["crm.contacts"]
    # The first load comes before the day it ends on; unpublished and held batches are not read.
    assert (crm.batches, crm.last_batch) == (2, "20260102T000000Z")
    others = {name: (s.batches, s.last_batch) for name, s in snapshot.streams.items() if name != "crm.contacts"}
    assert others and set(others.values()) == {(0, None)}
    assert LakeSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict()))) == snapshot
    assert take_snapshot(home).changes_since(snapshot) == []
    assert snapshot.changes_since(None) == [*snapshot.streams, PROJECT]


@pytest.mark.unit
def test_new_replaced_released_and_removed_batches_and_project_edits_change_it(home, project):
    lake = home.lake
    land(lake, "crm", "contacts", "20260101T000000Z", [contact("a")])
    before = take_snapshot(home)

    land(
        lake,
        "email",
        "subscribers",
        "20260102T000000Z",
        [{"subscriber_id": "s", "email": "s@example.com", "updated_at": DAY}],
    )
    assert take_snapshot(home).changes_since(before) == ["email.subscribers"]

    before = take_snapshot(home)
    land(lake, "crm", "contacts", "20260101T000000Z", [contact("a"), contact("b")])  # an interval re-run
    assert take_snapshot(home).changes_since(before) == ["crm.contacts"]

    held = land(
        lake, "pos", "transactions", "20260102T000000Z", [{"transaction_id": "t", "occurred_at": DAY}], visible=False
    )
    write_marker(held, SUCCESS)
    write_marker(held, HELD, {"at": DAY.isoformat(), "failures": []})
    before = take_snapshot(home)
    release_batch(home, contract_for("pos", "transactions"), "20260102T000000Z", "reviewed", "ops")
    assert take_snapshot(home).changes_since(before) == ["pos.transactions"]

    before = take_snapshot(home)
    shutil.rmtree(held)  # a re-run that found nothing
    assert take_snapshot(home).changes_since(before) == ["pos.transactions"]

    # The project's own files count; dbt's output does not.
    before = take_snapshot(home)
    (project / "target" / "run.json").write_text('{"again": 1}')
    (project / "logs" / "dbt.log").write_text("…")
    assert take_snapshot(home).changes_since(before) == []
    (project / "models" / "golden.sql").write_text("select 2 as customer_id\n")
    assert take_snapshot(home).changes_since(before) == [PROJECT]


@pytest.mark.unit
def test_the_publication_keeps_what_the_build_read_for_the_next_run(home, project):
    land(home.lake, "crm", "contacts", "20260101T000000Z", [contact("a")])
    now, changed = anything_new(home)
    assert last_read(home) is None and changed == [*now.streams, PROJECT]  # nothing published yet

    read = take_snapshot(home)
    land(home.lake, "crm", "contacts", "20260102T000000Z", [contact("b")])  # lands while dbt runs
    publish_warehouse(built(home), lake=read)
    assert last_read(home) == read
    assert json.loads(manifest_path(home).read_text())["lake"] == read.to_dict()
    # The batch that landed during the build was not read by it: the next run builds.
    assert anything_new(home)[1] == ["crm.contacts"]

    publish_warehouse(home, lake=take_snapshot(home))
    assert anything_new(home) == (take_snapshot(home), [])

    # A publication that does not say what it read (or whose manifest is not the published file's) leaves
    # nothing to compare with: the next run builds.
    publish_warehouse(home)
    assert last_read(home) is None and anything_new(home)[1] == [*read.streams, PROJECT]


@pytest.mark.integration
@pytest.mark.slow
def test_tessera_transform_publishes_what_its_build_read(home):
    land(home.lake, "crm", "contacts", "20260101T000000Z", [contact("a"), contact("b")])
    land_empty_streams(home.lake)
    read = take_snapshot(home)

    run_transform(home)  # checks, builds, checks the marts, publishes

    assert last_read(home) == read
    assert anything_new(home)[1] == []
