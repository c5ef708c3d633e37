"""Atomic batch publication, and recovery that cleans up only what its own loader left behind."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.lake import (
    CHECKED,
    LOADER,
    SUCCESS,
    BatchWriter,
    ForeignBatchError,
    Loader,
    batch_ids,
    batch_state,
    read_marker,
    recover,
    write_marker,
)
from tests.lake_writer import land

pytestmark = pytest.mark.unit

SCHEMA = pa.schema([pa.field("id", pa.string())])
ME = Loader("tessera-connector", "s", "t")


def _write(target, ids, rows_per_file=2, loader=ME, publication=None):
    writer = BatchWriter(target, SCHEMA, rows_per_file=rows_per_file, loader=loader, publication=publication)
    writer.write(pa.table({"id": ids}, schema=SCHEMA))
    return writer


def _land(target, ids, publication):
    """Publish and complete one batch of ours, as a committed extraction does."""
    writer = _write(target, ids, publication=publication)
    writer.publish()
    writer.complete()
    return target


def _read(folder):
    return sorted(pq.read_table(folder / "part-00000.parquet").column("id").to_pylist()) if folder.exists() else []


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_batch_is_published_whole_and_visible_only_once_completed(tmp_path):
    target = tmp_path / "s" / "batch_id=1"
    writer = _write(target, ["a", "b", "c"], publication="p1")
    assert not target.exists()
    writer.publish()
    assert _names(target) == [LOADER, "part-00000.parquet", "part-00001.parquet"]
    assert batch_state(target) == "writing"  # published, but its loader has not committed it
    assert read_marker(target, LOADER) == {
        "loader": "tessera-connector",
        "source": "s",
        "stream": "t",
        "batch_id": "1",
        "publication": "p1",
    }
    writer.complete()
    assert batch_state(target) == "pending" and SUCCESS in _names(target)
    assert sorted(pq.read_table(target, schema=SCHEMA).column("id").to_pylist()) == ["a", "b", "c"]
    assert [p.name for p in target.parent.iterdir()] == ["batch_id=1"]


def test_a_replaced_version_is_kept_aside_until_complete_and_its_markers_go_with_it(tmp_path):
    target = _land(tmp_path / "s" / "batch_id=1", ["a", "b"], "p1")
    write_marker(target, CHECKED, {"at": "2026-01-01T00:00:00+00:00"})
    writer = _write(target, ["x"], publication="p2")
    writer.publish()
    (aside,) = [p for p in target.parent.iterdir() if p.name.startswith(".replaced-")]
    assert _read(aside) == ["a", "b"] and _read(target) == ["x"]
    assert batch_state(target) == "writing"
    writer.complete()
    assert [p.name for p in target.parent.iterdir()] == ["batch_id=1"]
    assert batch_state(target) == "pending"  # the new version is checked again


def test_an_empty_batch_removes_the_earlier_version(tmp_path):
    target = _land(tmp_path / "s" / "batch_id=1", ["a"], "p1")
    writer = BatchWriter(target, SCHEMA, loader=ME)
    assert writer.publish() is None
    writer.complete()
    assert list(target.parent.iterdir()) == []


def test_abort_leaves_nothing(tmp_path):
    target = tmp_path / "s" / "batch_id=1"
    _write(target, ["a"]).abort()
    assert list(target.parent.iterdir()) == []


def test_a_writer_refuses_to_replace_another_loaders_batch(tmp_path):
    foreign = land(tmp_path, "crm", "contacts", "1", [])
    writer = _write(foreign, ["a"], loader=Loader("tessera-connector", "crm", "contacts"))
    with pytest.raises(ForeignBatchError, match=r"batch_id=1 holds a batch of crm/contacts landed by a loader"):
        writer.publish()
    assert batch_state(foreign) == "checked" and LOADER not in _names(foreign)


def test_recover_removes_only_its_own_uncommitted_folders(tmp_path):
    folder = tmp_path / "s"
    _land(folder / "batch_id=1", ["a"], "p1")
    _write(folder / "batch_id=2", ["a"], publication="p2").publish()  # died before its commit
    _write(folder / "batch_id=3", ["a"])  # died while writing: its temporary folder stays behind
    other = Loader("another-tool", "s", "t")
    other_writer = _write(folder / "batch_id=4", ["b"], loader=other)
    other_writer.publish()
    other_writer.complete()
    _write(folder / "batch_id=5", ["b"], loader=other)  # another loader is writing right now
    plain = folder / "batch_id=6"  # another loader that writes no _LOADER.json, mid-publication
    plain.mkdir()
    pq.write_table(pa.table({"id": ["c"]}), plain / "part-00000.parquet")

    done = recover(folder, ME, committed={"1": "p1"})

    assert (done.removed, done.restored, done.completed) == (["2"], [], [])
    assert batch_ids(folder) == ["1", "4", "6"]
    assert len(done.foreign) == 3 and [n for n in _names(folder) if n.startswith(".tmp-batch_id=5")]
    assert _read(folder / "batch_id=4") == ["b"] and _read(plain) == ["c"]


def test_recover_completes_a_committed_batch_that_lacks_success(tmp_path):
    folder = tmp_path / "s"
    _write(folder / "batch_id=1", ["a"], publication="p1").publish()  # died between the commit and _SUCCESS
    done = recover(folder, ME, committed={"1": "p1"})
    assert done.completed == ["1"] and done.removed == []
    assert batch_state(folder / "batch_id=1") == "pending" and _read(folder / "batch_id=1") == ["a"]


def test_recover_puts_back_a_batch_whose_replacement_never_committed(tmp_path):
    folder = tmp_path / "s"
    target = _land(folder / "batch_id=1", ["a"], "p1")
    write_marker(target, CHECKED, {"at": "2026-01-01T00:00:00+00:00"})
    _write(target, ["x"], publication="p2").publish()  # the re-run died before its commit

    done = recover(folder, ME, committed={"1": "p1"})

    assert done.restored == ["1"] and _names(folder) == ["batch_id=1"]
    assert _read(target) == ["a"] and batch_state(target) == "checked"


def test_recover_discards_the_replaced_version_once_the_replacement_committed(tmp_path):
    folder = tmp_path / "s"
    target = _land(folder / "batch_id=1", ["a"], "p1")
    _write(target, ["x"], publication="p2").publish()  # committed as p2, died before complete()

    done = recover(folder, ME, committed={"1": "p2"})

    assert done.completed == ["1"] and _names(folder) == ["batch_id=1"]
    assert _read(target) == ["x"] and batch_state(target) == "pending"


def test_recover_adopts_a_folder_committed_before_folders_named_their_loader(tmp_path):
    folder = tmp_path / "s"
    legacy = folder / "batch_id=1"
    legacy.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"]}), legacy / "part-00000.parquet")

    done = recover(folder, ME, committed={"1": None})

    assert done.completed == ["1"] and ME.wrote(legacy) and batch_state(legacy) == "pending"
