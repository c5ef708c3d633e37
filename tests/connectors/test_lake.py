"""Atomic batch publication and recovery of what interrupted runs leave behind."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.lake import BatchWriter, batch_ids, recover

pytestmark = pytest.mark.unit

SCHEMA = pa.schema([pa.field("id", pa.string())])


def _write(target, ids, rows_per_file=2):
    writer = BatchWriter(target, SCHEMA, rows_per_file=rows_per_file)
    writer.write(pa.table({"id": ids}, schema=SCHEMA))
    return writer


def _read(folder):
    return sorted(pq.read_table(folder).column("id").to_pylist())


def test_nothing_is_visible_until_commit_and_parts_roll_over(tmp_path):
    target = tmp_path / "s" / "batch_id=1"
    writer = _write(target, ["a", "b", "c"])
    assert not target.exists()
    writer.commit()
    assert sorted(p.name for p in target.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    assert _read(target) == ["a", "b", "c"]
    assert [p.name for p in target.parent.iterdir()] == ["batch_id=1"]


def test_commit_replaces_an_earlier_version(tmp_path):
    target = tmp_path / "s" / "batch_id=1"
    _write(target, ["a", "b", "c"]).commit()
    _write(target, ["x"]).commit()
    assert _read(target) == ["x"]
    assert [p.name for p in target.parent.iterdir()] == ["batch_id=1"]


def test_an_empty_commit_removes_the_earlier_version(tmp_path):
    target = tmp_path / "s" / "batch_id=1"
    _write(target, ["a"]).commit()
    BatchWriter(target, SCHEMA).commit()
    assert not target.exists()


def test_abort_leaves_nothing(tmp_path):
    target = tmp_path / "s" / "batch_id=1"
    _write(target, ["a"]).abort()
    assert list(target.parent.iterdir()) == []


def test_recover_removes_uncommitted_batches_and_temporary_folders(tmp_path):
    folder = tmp_path / "s"
    for batch in ("1", "2"):
        _write(folder / f"batch_id={batch}", ["a"]).commit()
    _write(folder / "batch_id=3", ["a"])  # never committed: its temporary folder stays behind
    assert recover(folder, committed={"1"}) == ["2"]
    assert batch_ids(folder) == ["1"]
    assert [p.name for p in folder.iterdir()] == ["batch_id=1"]
