"""Atomic batch writes to the Parquet lake, and recovery of what an interrupted run left behind.

A batch is a folder `batch_id=<id>/` of Parquet part files. It is written under a temporary
name and renamed into place, so readers never see half a batch; re-running a batch swaps the
new folder in for the old one. Folders of batches that were written but never committed to
the stream's state (the process died in between) are removed by `recover`, because the
cursor did not advance and the next run reads those records again.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

BATCH_PREFIX = "batch_id="
_TMP_PREFIX = ".tmp-"
_REPLACED_PREFIX = ".replaced-"

# Marker files in a batch folder (docs/landing-contract.md, "When a batch is visible"). Names start with `_`,
# so readers that glob `*.parquet` never take them for data.
SUCCESS = "_SUCCESS"  #: written last by the loader, once the batch is committed in the loader's own bookkeeping
CHECKED = "_CHECKED.json"  #: the batch's checks found no critical failure (warnings are listed inside)
HELD = "_HELD.json"  #: a critical check failure holds the batch back; the failures are inside
RELEASED = "_RELEASED.json"  #: an operator released a held batch (`tessera check --release`); who, when and why


def stream_dir(lake: Path, zone: str, source: str, stream: str) -> Path:
    """`<lake>/<zone>/<source>/<stream>`, zone being `raw` or `quarantine`."""
    return Path(lake) / zone / source / stream


def batch_dir(lake: Path, zone: str, source: str, stream: str, batch_id: str) -> Path:
    return stream_dir(lake, zone, source, stream) / f"{BATCH_PREFIX}{batch_id}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BatchWriter:
    """Writes one batch as Parquet part files, then publishes it atomically with `commit()`."""

    def __init__(self, target: Path, schema: pa.Schema, rows_per_file: int = 250_000):
        self.target = Path(target)
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.rows = 0
        self._tmp = self.target.parent / f"{_TMP_PREFIX}{self.target.name}-{uuid.uuid4().hex[:8]}"
        self._writer: pq.ParquetWriter | None = None
        self._file_rows = 0
        self._files = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = table.cast(self.schema) if table.schema != self.schema else table
        offset = 0
        while offset < table.num_rows:
            if self._writer is None or self._file_rows >= self.rows_per_file:
                self._open_next()
            take = min(self.rows_per_file - self._file_rows, table.num_rows - offset)
            self._writer.write_table(table.slice(offset, take))
            self._file_rows += take
            self.rows += take
            offset += take

    def _open_next(self) -> None:
        self._close_current()
        self._tmp.mkdir(parents=True, exist_ok=True)
        path = self._tmp / f"part-{self._files:05d}.parquet"
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self._files += 1
        self._file_rows = 0

    def _close_current(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def commit(self) -> Path | None:
        """Publish the batch (replacing an earlier version of it). An empty batch publishes nothing
        and removes an earlier version, so a re-run that finds no rows leaves no stale rows."""
        self._close_current()
        self.target.parent.mkdir(parents=True, exist_ok=True)
        replaced = None
        if self.target.exists():
            replaced = self.target.parent / f"{_REPLACED_PREFIX}{self.target.name}-{uuid.uuid4().hex[:8]}"
            os.replace(self.target, replaced)
        if self._files:
            for part in self._tmp.iterdir():
                with open(part, "rb") as fh:
                    os.fsync(fh.fileno())
            os.replace(self._tmp, self.target)
        _fsync_dir(self.target.parent)
        if replaced is not None:
            shutil.rmtree(replaced)
        return self.target if self._files else None

    def abort(self) -> None:
        self._close_current()
        shutil.rmtree(self._tmp, ignore_errors=True)


def write_marker(folder: Path, name: str, doc: dict | None = None) -> Path:
    """Write one marker file into a batch folder atomically (a reader sees it whole or not at all)."""
    import json

    path = Path(folder) / name
    tmp = path.with_name(f"{_TMP_PREFIX}{name}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w") as fh:
        if doc is not None:
            json.dump(doc, fh, indent=1, sort_keys=True, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def read_marker(folder: Path, name: str) -> dict | None:
    """A marker's document ({} for an empty marker such as `_SUCCESS`), or None when it is absent."""
    import json

    path = Path(folder) / name
    if not path.exists():
        return None
    text = path.read_text()
    return json.loads(text) if text.strip() else {}


def remove_marker(folder: Path, name: str) -> None:
    (Path(folder) / name).unlink(missing_ok=True)


def batch_state(folder: Path) -> str:
    """Where a batch folder stands: `writing` (no `_SUCCESS` yet), `pending` (published, not yet checked),
    `held`, `released` or `checked`. Only `checked` and `released` batches are visible to the transform."""
    folder = Path(folder)
    if not (folder / SUCCESS).exists():
        return "writing"
    if (folder / RELEASED).exists():
        return "released"
    if (folder / HELD).exists():
        return "held"
    if (folder / CHECKED).exists():
        return "checked"
    return "pending"


def is_visible(folder: Path) -> bool:
    return batch_state(folder) in ("checked", "released")


def batch_ids(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(p.name[len(BATCH_PREFIX) :] for p in directory.iterdir() if p.name.startswith(BATCH_PREFIX))


def recover(directory: Path, committed: Iterable[str]) -> list[str]:
    """Undo what an interrupted run left in one stream folder; return the batch ids removed.

    - temporary folders are deleted;
    - a batch that was being replaced when the run died is put back if its new version never landed;
    - a batch folder that the state never committed is deleted (its records will be read again).
    """
    if not directory.exists():
        return []
    committed = set(committed)
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(_TMP_PREFIX):
            log.warning("removing temporary folder left by an interrupted run: %s", entry)
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(_REPLACED_PREFIX):
            original = directory / entry.name[len(_REPLACED_PREFIX) :].rsplit("-", 1)[0]
            if original.exists():
                shutil.rmtree(entry)
            else:
                log.warning("restoring %s: the run replacing it was interrupted", original)
                os.replace(entry, original)
    removed = []
    for batch in batch_ids(directory):
        if batch not in committed:
            log.warning(
                "removing batch %s of %s: it was written but never committed; the next run reads it again",
                batch,
                directory,
            )
            shutil.rmtree(directory / f"{BATCH_PREFIX}{batch}")
            removed.append(batch)
    return removed
