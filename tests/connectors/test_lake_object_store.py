"""Batch publication and recovery on object storage (a real S3 server, SeaweedFS), which has no rename:
`_SUCCESS`, written last, lists the files of the version that counts, and readers take exactly those."""

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
    batch_files,
    batch_ids,
    batch_state,
    is_visible,
    read_marker,
    recover,
    stream_dir,
    write_marker,
)

pytestmark = pytest.mark.integration

SCHEMA = pa.schema([pa.field("id", pa.string())])
ME = Loader("tessera-connector", "s", "t")
CHECKED_AT = {"at": "2026-01-01T00:00:00+00:00"}


def _write(target, ids, publication, rows_per_file=2, loader=ME):
    writer = BatchWriter(target, SCHEMA, rows_per_file=rows_per_file, loader=loader, publication=publication)
    writer.write(pa.table({"id": ids}, schema=SCHEMA))
    return writer


def _land(target, ids, publication):
    writer = _write(target, ids, publication)
    writer.publish()
    writer.complete()
    return target


def _read(folder):
    """What a reader of the batch sees: the files `_SUCCESS` lists."""
    files = batch_files(folder)
    rows = [pq.read_table(f.path, filesystem=f.fs).column("id").to_pylist() for f in files]
    return sorted(value for part in rows for value in part)


def _names(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_batch_lists_its_files_in_success_and_is_visible_only_once_checked(s3_lake):
    target = stream_dir(s3_lake, "raw", "s", "t") / "batch_id=1"
    writer = _write(target, ["a", "b", "c"], "p1")
    writer.publish()
    assert batch_state(target) == "writing"  # its parts are there, but nothing says they are the batch
    writer.complete()
    assert read_marker(target, SUCCESS) == {
        "publication": "p1",
        "files": ["part-p1-00000.parquet", "part-p1-00001.parquet"],
    }
    assert read_marker(target, LOADER)["publication"] == "p1"
    assert batch_state(target) == "pending" and _read(target) == ["a", "b", "c"]
    write_marker(target, CHECKED, CHECKED_AT)
    assert is_visible(target) and batch_ids(target.parent) == ["1"]


def test_a_rerun_never_shows_readers_half_a_batch_and_its_checks_start_again(s3_lake):
    target = _land(stream_dir(s3_lake, "raw", "s", "t") / "batch_id=1", ["a", "b"], "p1")
    write_marker(target, CHECKED, CHECKED_AT)
    writer = _write(target, ["x", "y", "z"], "p2")
    writer.publish()
    # Both versions' parts sit in the folder; readers still see the old one, whole, and it stays visible.
    assert len([n for n in _names(target) if n.endswith(".parquet")]) == 3
    assert _read(target) == ["a", "b"] and is_visible(target)
    writer.complete()
    assert _read(target) == ["x", "y", "z"]
    assert [n for n in _names(target) if n.endswith(".parquet")] == ["part-p2-00000.parquet", "part-p2-00001.parquet"]
    assert batch_state(target) == "pending"  # the old version's check does not pass the new one


def test_an_empty_rerun_removes_the_batch(s3_lake, object_store):
    target = _land(stream_dir(s3_lake, "raw", "s", "t") / "batch_id=1", ["a"], "p1")
    writer = BatchWriter(target, SCHEMA, loader=ME)
    assert writer.publish() is None
    writer.complete()
    bucket, prefix = s3_lake.path.split("/", 1)
    assert object_store.keys(bucket, prefix) == [] and batch_ids(target.parent) == []


def test_abort_deletes_only_its_own_parts(s3_lake):
    target = _land(stream_dir(s3_lake, "raw", "s", "t") / "batch_id=1", ["a"], "p1")
    _write(target, ["x", "y", "z"], "p2").abort()
    assert _names(target) == [LOADER, SUCCESS, "part-p1-00000.parquet"] and _read(target) == ["a"]


def test_a_writer_refuses_to_write_into_another_loaders_batch(s3_lake):
    target = _land(stream_dir(s3_lake, "raw", "s", "t") / "batch_id=1", ["a"], "p1")
    with pytest.raises(
        ForeignBatchError,
        match=r"batch_id=1 holds a batch of s/t landed by loader 'tessera-connector', not by 'another-tool'",
    ):
        _write(target, ["b"], "q1", loader=Loader("another-tool", "s", "t"))
    assert _names(target) == [LOADER, SUCCESS, "part-p1-00000.parquet"]


def test_recover_after_crashes_at_every_step(s3_lake):
    """Each batch stands for a run that died at another point; recovery leaves every one as its
    bookkeeping says, touching no other loader's batch."""
    folder = stream_dir(s3_lake, "raw", "s", "t")
    _land(folder / "batch_id=1", ["a"], "p1")  # committed and complete: untouched
    _write(folder / "batch_id=2", ["b"], "p2").publish()  # died before its commit: removed
    _write(folder / "batch_id=3", ["c"], "p3").publish()  # committed, died before _SUCCESS: completed
    replaced = _land(folder / "batch_id=4", ["d"], "p4")
    write_marker(replaced, CHECKED, CHECKED_AT)
    _write(replaced, ["D", "DD"], "p4b").publish()  # the re-run died before its commit: the old one stays
    redone = _land(folder / "batch_id=5", ["e"], "p5")
    write_marker(redone, CHECKED, CHECKED_AT)
    _write(redone, ["E"], "p5b").publish()  # the re-run committed, died before complete(): the new one counts
    other = Loader("another-tool", "s", "t")
    _write(folder / "batch_id=6", ["f"], "o6", loader=other).publish()  # another loader, mid-publication

    done = recover(folder, ME, committed={"1": "p1", "3": "p3", "4": "p4", "5": "p5b"})

    assert (done.removed, sorted(done.completed), done.foreign) == (["2"], ["3", "5"], ["batch_id=6"])
    assert batch_ids(folder) == ["1", "3", "4", "5", "6"]
    assert _read(folder / "batch_id=3") == ["c"] and batch_state(folder / "batch_id=3") == "pending"
    assert _read(replaced) == ["d"] and batch_state(replaced) == "checked"
    assert _names(replaced) == [CHECKED, LOADER, SUCCESS, "part-p4-00000.parquet"]
    assert _read(redone) == ["E"] and batch_state(redone) == "pending"
    assert [n for n in _names(redone) if n.endswith(".parquet")] == ["part-p5b-00000.parquet"]
    assert _names(folder / "batch_id=6") == [LOADER, "part-o6-00000.parquet"]
    # Recovering again changes nothing.
    again = recover(folder, ME, committed={"1": "p1", "3": "p3", "4": "p4", "5": "p5b"})
    assert (again.removed, again.completed) == ([], [])


def test_duckdb_reads_the_listed_files_through_the_lakes_filesystem(s3_lake):
    import duckdb

    from connectors.lake_storage import register_with_duckdb

    target = _land(stream_dir(s3_lake, "raw", "s", "t") / "batch_id=1", ["a", "b", "c"], "p1")
    _write(target, ["x"], "p2").publish()  # a re-run's parts, not listed yet
    conn = duckdb.connect()
    register_with_duckdb(conn, s3_lake)
    register_with_duckdb(conn, s3_lake)  # once per connection is enough; again changes nothing
    files = ", ".join(f"'{f}'" for f in batch_files(target))
    assert sorted(v for (v,) in conn.sql(f"select id from read_parquet([{files}])").fetchall()) == ["a", "b", "c"]
