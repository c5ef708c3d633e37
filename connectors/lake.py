"""Atomic batch writes to the Parquet lake, and recovery of what an interrupted run left behind.

A batch is a folder `batch_id=<id>/` of Parquet part files. It is written under a temporary
name and renamed into place, so readers never see half a batch; re-running a batch swaps the
new folder in for the old one. A published folder becomes visible to readers only when its
loader writes `_SUCCESS`, which it does after committing the batch in its own bookkeeping
(docs/landing-contract.md, "When a batch is visible, and what a loader may clean up").

The lake has more than one writer: Tessera's connectors, and other loaders that land batches by
the landing contract. A connector names itself in a `_LOADER.json` inside every folder it
writes, and `recover` touches only those folders: it deletes the ones its state never committed
(the cursor did not advance, so the next run reads those records again), puts back a batch whose
replacement was never committed, and finishes the publication of a committed batch that lacks
`_SUCCESS`. Folders of other loaders are left alone.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.durable import fsync_path

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
LOADER = "_LOADER.json"  #: who wrote the folder (loader, source, stream, batch, publication); see `Loader`


class ForeignBatchError(RuntimeError):
    """A loader was about to replace a batch folder that another loader wrote."""


def stream_dir(lake: Path, zone: str, source: str, stream: str) -> Path:
    """`<lake>/<zone>/<source>/<stream>`, zone being `raw` or `quarantine`."""
    return Path(lake) / zone / source / stream


def batch_dir(lake: Path, zone: str, source: str, stream: str, batch_id: str) -> Path:
    return stream_dir(lake, zone, source, stream) / f"{BATCH_PREFIX}{batch_id}"


@dataclass(frozen=True)
class Loader:
    """One writer of one stream's batch folders. The `_LOADER.json` it puts in every folder it writes
    is how it tells its own folders from other loaders', so that it cleans up only what it wrote.

    Each publication of a folder gets an id, recorded in `_LOADER.json` and in the loader's bookkeeping
    when it commits the batch: a folder whose publication the bookkeeping does not hold was never
    committed."""

    name: str
    source: str
    stream: str

    def document(self, batch_id: str, publication: str | None) -> dict[str, str | None]:
        return {
            "loader": self.name,
            "source": self.source,
            "stream": self.stream,
            "batch_id": batch_id,
            "publication": publication,
        }

    def wrote(self, folder: Path) -> bool:
        """True when the folder's `_LOADER.json` names this loader, source and stream."""
        doc = loader_of(folder)
        return doc is not None and (doc.get("loader"), doc.get("source"), doc.get("stream")) == (
            self.name,
            self.source,
            self.stream,
        )


def loader_of(folder: Path) -> dict | None:
    """The folder's `_LOADER.json`, or None when it has none (or one that is not a JSON object)."""
    try:
        doc = read_marker(folder, LOADER)
    except (ValueError, OSError):
        return None
    return doc if isinstance(doc, dict) and doc else None


def check_replaceable(folder: Path, loader: Loader) -> None:
    """Raise `ForeignBatchError` unless `folder` is absent or was written by `loader`."""
    folder = Path(folder)
    if not folder.exists() or loader.wrote(folder):
        return
    owner = loader_of(folder)
    who = f"loader {owner.get('loader')!r}" if owner else f"a loader that wrote no {LOADER}"
    raise ForeignBatchError(
        f"{folder} holds a batch of {loader.source}/{loader.stream} landed by {who}, not by {loader.name!r}: "
        "a loader never replaces another loader's batch. Land this interval under another batch id, or "
        "remove that folder if the connector should own the batch."
    )


class BatchWriter:
    """Writes one batch as Parquet part files, publishes it atomically with `publish()`, and makes it
    visible with `complete()` once the batch is committed in the loader's bookkeeping.

    With a `loader`, every folder it writes carries that loader's `_LOADER.json`, and it refuses to
    replace a folder another loader wrote."""

    def __init__(
        self,
        target: Path,
        schema: pa.Schema,
        rows_per_file: int = 250_000,
        *,
        loader: Loader | None = None,
        publication: str | None = None,
    ):
        self.target = Path(target)
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.rows = 0
        self.loader = loader
        self.publication = publication or uuid.uuid4().hex
        self.replaced: Path | None = None
        self._tmp = self.target.parent / f"{_TMP_PREFIX}{self.target.name}-{uuid.uuid4().hex[:8]}"
        self._writer: pq.ParquetWriter | None = None
        self._file_rows = 0
        self._files = 0

    @property
    def batch_id(self) -> str:
        return self.target.name.removeprefix(BATCH_PREFIX)

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
        if not self._tmp.exists():
            self._tmp.mkdir(parents=True)
            if self.loader is not None:
                # First, so that any temporary folder holding data says whose it is.
                write_marker(self._tmp, LOADER, self.loader.document(self.batch_id, self.publication))
        path = self._tmp / f"part-{self._files:05d}.parquet"
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self._files += 1
        self._file_rows = 0

    def _close_current(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def publish(self) -> Path | None:
        """Rename the batch into place, setting an earlier version of it aside (`self.replaced`) until
        `complete()`. An empty batch publishes nothing and sets the earlier version aside all the same,
        so a re-run that finds no rows leaves no stale rows. The published folder has no `_SUCCESS` yet."""
        self._close_current()
        self.target.parent.mkdir(parents=True, exist_ok=True)
        if self.target.exists():
            if self.loader is not None:
                check_replaceable(self.target, self.loader)
            self.replaced = self.target.parent / f"{_REPLACED_PREFIX}{self.target.name}-{uuid.uuid4().hex[:8]}"
            os.replace(self.target, self.replaced)
        if self._files:
            for part in self._tmp.iterdir():
                with open(part, "rb") as fh:
                    os.fsync(fh.fileno())
            os.replace(self._tmp, self.target)
        fsync_path(self.target.parent)
        return self.target if self._files else None

    def complete(self) -> Path | None:
        """Make the published batch visible (`_SUCCESS`, fsync'd) and discard the version it replaced.
        Call it only once the batch is committed in the loader's own bookkeeping."""
        published = self.target if self._files else None
        if published is not None:
            write_marker(published, SUCCESS)
        if self.replaced is not None:
            shutil.rmtree(self.replaced)
            self.replaced = None
        return published

    def abort(self) -> None:
        self._close_current()
        shutil.rmtree(self._tmp, ignore_errors=True)


def write_marker(folder: Path, name: str, doc: dict | None = None) -> Path:
    """Write one marker file into a batch folder atomically (a reader sees it whole or not at all)."""
    path = Path(folder) / name
    tmp = path.with_name(f"{_TMP_PREFIX}{name}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w") as fh:
        if doc is not None:
            json.dump(doc, fh, indent=1, sort_keys=True, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)
    return path


def read_marker(folder: Path, name: str) -> dict | None:
    """A marker's document ({} for an empty marker such as `_SUCCESS`), or None when it is absent."""
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


@dataclass
class Recovery:
    """What `recover` did in one stream folder, by batch id."""

    removed: list[str] = field(default_factory=list)  #: own batches never committed: deleted
    restored: list[str] = field(default_factory=list)  #: own batches whose uncommitted replacement was undone
    completed: list[str] = field(default_factory=list)  #: committed batches that lacked `_SUCCESS`: written now
    foreign: list[str] = field(default_factory=list)  #: folders of other loaders: left alone


def recover(directory: Path, loader: Loader, committed: Mapping[str, str | None]) -> Recovery:
    """Undo what an interrupted run of `loader` left in one stream folder, touching only its own folders.

    `committed` maps each batch the loader's bookkeeping committed to the publication it committed
    (None for a batch committed before publications were recorded).

    - its temporary folders are deleted;
    - a batch whose replacement was never committed is put back (with the markers it had);
    - a batch folder whose publication was never committed is deleted (its records will be read again);
    - a committed batch without `_SUCCESS` (the run died between its commit and `_SUCCESS`) gets it;
    - a folder written before `_LOADER.json` existed is the loader's when its bookkeeping committed that
      batch and the folder has no `_SUCCESS`: it is given its `_LOADER.json` (and `_SUCCESS`);
    - every other folder belongs to another loader and is left alone.
    """
    directory = Path(directory)
    done = Recovery()
    if not directory.exists():
        return done

    def _batch_of(name: str) -> str:
        return name.removeprefix(BATCH_PREFIX)

    def _is_legacy_own(folder: Path, batch: str) -> bool:
        return (
            loader_of(folder) is None
            and batch in committed
            and committed[batch] is None
            and not (folder / SUCCESS).exists()
        )

    def _own(folder: Path, batch: str) -> bool:
        return loader.wrote(folder) or _is_legacy_own(folder, batch)

    def _publication(folder: Path) -> str | None:
        doc = loader_of(folder)
        return doc.get("publication") if doc else None

    foreign: list[str] = []
    for entry in sorted(directory.iterdir()):
        if not entry.is_dir():
            continue
        if entry.name.startswith(_TMP_PREFIX):
            if loader.wrote(entry):
                log.warning("removing temporary folder left by an interrupted run: %s", entry)
                shutil.rmtree(entry, ignore_errors=True)
            else:
                foreign.append(entry.name)
        elif entry.name.startswith(_REPLACED_PREFIX):
            original = directory / entry.name[len(_REPLACED_PREFIX) :].rsplit("-", 1)[0]
            batch = _batch_of(original.name)
            if not _own(entry, batch):
                foreign.append(entry.name)
            elif batch in committed and _publication(entry) == committed[batch]:
                # The version set aside is the committed one: its replacement never committed.
                if original.exists():
                    if not _own(original, batch):
                        log.warning("cannot restore %s: %s now holds another loader's folder", entry, original)
                        foreign.append(entry.name)
                        continue
                    shutil.rmtree(original)
                log.warning("restoring %s: the run replacing it did not commit", original)
                os.replace(entry, original)
                fsync_path(directory)
                done.restored.append(batch)
            else:
                shutil.rmtree(entry)
    for batch in batch_ids(directory):
        folder = directory / f"{BATCH_PREFIX}{batch}"
        if not _own(folder, batch):
            foreign.append(folder.name)
        elif batch in committed and _publication(folder) == committed[batch]:
            if loader_of(folder) is None:
                log.info(
                    "recording %s in %s: committed by %s before folders named their loader", LOADER, folder, loader.name
                )
                write_marker(folder, LOADER, loader.document(batch, None))
            if not (folder / SUCCESS).exists():
                log.warning(
                    "completing batch %s of %s: committed, but the run died before writing %s",
                    batch,
                    directory,
                    SUCCESS,
                )
                write_marker(folder, SUCCESS)
                done.completed.append(batch)
        else:
            log.warning(
                "removing batch %s of %s: it was written but never committed; the next run reads it again",
                batch,
                directory,
            )
            shutil.rmtree(folder)
            done.removed.append(batch)
    if foreign:
        done.foreign = sorted(foreign)
        log.info(
            "leaving %d folder(s) of other loaders alone in %s: %s",
            len(foreign),
            directory,
            ", ".join(done.foreign[:5]) + (" …" if len(foreign) > 5 else ""),
        )
    return done
