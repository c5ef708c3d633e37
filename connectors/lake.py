"""Atomic batch writes to the Parquet lake, and recovery of what an interrupted run left behind.

A batch is a folder `batch_id=<id>/` of Parquet part files. On a local filesystem it is written
under a temporary name and renamed into place, so readers never see half a batch; re-running a
batch swaps the new folder in for the old one. Object storage has no rename: there the parts are
written into the batch's folder under names that carry their publication, and `_SUCCESS`, one object
written whole, lists the files of the publication that counts; readers take exactly those
(`batch_files`). Either way a published folder becomes visible to readers only when its loader
writes `_SUCCESS`, which it does after committing the batch in its own bookkeeping
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
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.durable import fsync_path
from connectors.lake_storage import LakePath, lake_path, remove_tree, renames_atomically

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


def stream_dir(lake: LakePath, zone: str, source: str, stream: str) -> LakePath:
    """`<lake>/<zone>/<source>/<stream>`, zone being `raw` or `quarantine`."""
    return lake_path(lake) / zone / source / stream


def batch_dir(lake: LakePath, zone: str, source: str, stream: str, batch_id: str) -> LakePath:
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

    def wrote(self, folder: LakePath) -> bool:
        """True when the folder's `_LOADER.json` names this loader, source and stream."""
        doc = loader_of(folder)
        return doc is not None and (doc.get("loader"), doc.get("source"), doc.get("stream")) == (
            self.name,
            self.source,
            self.stream,
        )


def loader_of(folder: LakePath) -> dict | None:
    """The folder's `_LOADER.json`, or None when it has none (or one that is not a JSON object)."""
    try:
        doc = read_marker(folder, LOADER)
    except (ValueError, OSError):
        return None
    return doc if isinstance(doc, dict) and doc else None


def check_replaceable(folder: LakePath, loader: Loader) -> None:
    """Raise `ForeignBatchError` unless `folder` is absent or was written by `loader`."""
    folder = lake_path(folder)
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
        target: LakePath,
        schema: pa.Schema,
        rows_per_file: int = 250_000,
        *,
        loader: Loader | None = None,
        publication: str | None = None,
    ):
        self.target = lake_path(target)
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.rows = 0
        self.loader = loader
        self.publication = publication or uuid.uuid4().hex
        self.replaced: LakePath | None = None
        self._renames = renames_atomically(self.target)
        # Local: a temporary folder renamed into place. Object storage: the batch's own folder.
        self._tmp = (
            self.target.parent / f"{_TMP_PREFIX}{self.target.name}-{uuid.uuid4().hex[:8]}"
            if self._renames
            else self.target
        )
        self._writer: pq.ParquetWriter | None = None
        self._sink = None
        self._file_rows = 0
        self._files: list[str] = []

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
        if not self._files:
            if self._renames:
                self._tmp.mkdir(parents=True, exist_ok=True)
            elif self.loader is not None:
                check_replaceable(self.target, self.loader)
            if self.loader is not None and (self._renames or loader_of(self.target) is None):
                # First, so that any folder holding data says whose it is.
                write_marker(self._tmp, LOADER, self.loader.document(self.batch_id, self.publication))
        # On object storage the name carries the publication: an earlier version's files sit beside these
        # until `complete()`, and `_SUCCESS` says which ones are the batch.
        name = (
            f"part-{len(self._files):05d}.parquet"
            if self._renames
            else (f"part-{self.publication}-{len(self._files):05d}.parquet")
        )
        self._sink = (self._tmp / name).open("wb")
        self._writer = pq.ParquetWriter(self._sink, self.schema, compression="zstd")
        self._files.append(name)
        self._file_rows = 0

    def _close_current(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._sink is not None:
            if self._renames:
                self._sink.flush()
                os.fsync(self._sink.fileno())
            self._sink.close()
            self._sink = None

    def publish(self) -> LakePath | None:
        """Put the batch in place, setting an earlier version of it aside (`self.replaced`) until
        `complete()`. An empty batch publishes nothing and sets the earlier version aside all the same,
        so a re-run that finds no rows leaves no stale rows. The published folder has no `_SUCCESS` yet.

        On object storage the parts already are in place; the earlier version stays readable, through its
        `_SUCCESS`, until `complete()` lists the new files."""
        self._close_current()
        if not self._renames:
            if self.loader is not None:
                check_replaceable(self.target, self.loader)
            return self.target if self._files else None
        self.target.parent.mkdir(parents=True, exist_ok=True)
        if self.target.exists():
            if self.loader is not None:
                check_replaceable(self.target, self.loader)
            self.replaced = self.target.parent / f"{_REPLACED_PREFIX}{self.target.name}-{uuid.uuid4().hex[:8]}"
            os.replace(self.target, self.replaced)
        if self._files:
            os.replace(self._tmp, self.target)
        fsync_path(self.target.parent)
        return self.target if self._files else None

    def complete(self) -> LakePath | None:
        """Make the published batch visible (`_SUCCESS`, fsync'd) and discard the version it replaced.
        Call it only once the batch is committed in the loader's own bookkeeping."""
        published = self.target if self._files else None
        if not self._renames:
            if published is None:
                if self.target.exists():
                    remove_tree(self.target)  # a re-run found nothing: the batch leaves the lake
                return None
            publish_files(self.target, self.publication, self._files, self.loader)
            return published
        if published is not None:
            write_marker(published, SUCCESS)
        if self.replaced is not None:
            remove_tree(self.replaced)
            self.replaced = None
        return published

    def abort(self) -> None:
        self._close_current()
        if self._renames:
            remove_tree(self._tmp, missing_ok=True)
        else:
            for name in self._files:
                (self.target / name).unlink(missing_ok=True)


def publish_files(folder: LakePath, publication: str, files: list[str], loader: Loader | None) -> None:
    """On object storage, make `files` (of `publication`) the batch: its check markers go first, since they
    judged another version, then `_SUCCESS` lists the files, then the earlier versions' parts are deleted."""
    for marker in (CHECKED, HELD, RELEASED):
        remove_marker(folder, marker)
    if loader is not None:
        write_marker(folder, LOADER, loader.document(folder.name.removeprefix(BATCH_PREFIX), publication))
    write_marker(folder, SUCCESS, {"publication": publication, "files": sorted(files)})
    for part in folder.glob("*.parquet"):
        if part.name not in files:
            part.unlink(missing_ok=True)


def open_parquet(part: LakePath) -> pq.ParquetFile:
    """A part file of the lake, local or on object storage, for reading."""
    if renames_atomically(part):
        return pq.ParquetFile(part)
    return pq.ParquetFile(part.path, filesystem=part.fs)


def batch_files(folder: LakePath) -> list[LakePath]:
    """The Parquet files that make the batch: those its `_SUCCESS` lists (object storage), else every
    `*.parquet` in the folder, in name order."""
    folder = lake_path(folder)
    listed = (read_marker(folder, SUCCESS) or {}).get("files")
    if isinstance(listed, list):
        return [folder / str(name) for name in listed]
    return sorted(folder.glob("*.parquet"))


def write_marker(folder: LakePath, name: str, doc: dict | None = None) -> LakePath:
    """Write one marker file into a batch folder atomically (a reader sees it whole or not at all)."""
    path = lake_path(folder) / name
    if not renames_atomically(path):
        # One object, written whole by a single request.
        path.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) if doc is not None else "")
        return path
    tmp = path.with_name(f"{_TMP_PREFIX}{name}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w") as fh:
        if doc is not None:
            json.dump(doc, fh, indent=1, sort_keys=True, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)
    return path


def read_marker(folder: LakePath, name: str) -> dict | None:
    """A marker's document ({} for an empty marker such as `_SUCCESS`), or None when it is absent."""
    path = lake_path(folder) / name
    if not path.exists():
        return None
    text = path.read_text()
    return json.loads(text) if text.strip() else {}


def remove_marker(folder: LakePath, name: str) -> None:
    (lake_path(folder) / name).unlink(missing_ok=True)


def batch_state(folder: LakePath) -> str:
    """Where a batch folder stands: `writing` (no `_SUCCESS` yet), `pending` (published, not yet checked),
    `held`, `released` or `checked`. Only `checked` and `released` batches are visible to the transform."""
    folder = lake_path(folder)
    if not (folder / SUCCESS).exists():
        return "writing"
    if (folder / RELEASED).exists():
        return "released"
    if (folder / HELD).exists():
        return "held"
    if (folder / CHECKED).exists():
        return "checked"
    return "pending"


def is_visible(folder: LakePath) -> bool:
    return batch_state(folder) in ("checked", "released")


def batch_ids(directory: LakePath) -> list[str]:
    directory = lake_path(directory)
    if not directory.exists():
        return []
    if renames_atomically(directory):
        names = {p.name for p in directory.iterdir()}
    else:
        # The folders that hold objects: some servers keep an emptied prefix listed for a while.
        prefix = directory.path.rstrip("/") + "/"
        names = {key.removeprefix(prefix).split("/", 1)[0] for key in directory.fs.find(prefix)}
    return sorted(name[len(BATCH_PREFIX) :] for name in names if name.startswith(BATCH_PREFIX))


@dataclass
class Recovery:
    """What `recover` did in one stream folder, by batch id."""

    removed: list[str] = field(default_factory=list)  #: own batches never committed: deleted
    restored: list[str] = field(default_factory=list)  #: own batches whose uncommitted replacement was undone
    completed: list[str] = field(default_factory=list)  #: committed batches that lacked `_SUCCESS`: written now
    foreign: list[str] = field(default_factory=list)  #: folders of other loaders: left alone


def recover(directory: LakePath, loader: Loader, committed: Mapping[str, str | None]) -> Recovery:
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
    directory = lake_path(directory)
    done = Recovery()
    if not directory.exists():
        return done
    if not renames_atomically(directory):
        return _recover_listed(directory, loader, committed, done)

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
                remove_tree(entry, missing_ok=True)
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
                    remove_tree(original)
                log.warning("restoring %s: the run replacing it did not commit", original)
                os.replace(entry, original)
                fsync_path(directory)
                done.restored.append(batch)
            else:
                remove_tree(entry)
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
                _log_completing(folder)
                write_marker(folder, SUCCESS)
                done.completed.append(batch)
        else:
            _remove_uncommitted(folder, done)
    if foreign:
        done.foreign = sorted(foreign)
        log.info(
            "leaving %d folder(s) of other loaders alone in %s: %s",
            len(foreign),
            directory,
            ", ".join(done.foreign[:5]) + (" …" if len(foreign) > 5 else ""),
        )
    return done


def _log_completing(folder: LakePath) -> None:
    log.warning(
        "completing batch %s of %s: committed, but the run died before writing %s",
        folder.name.removeprefix(BATCH_PREFIX),
        folder.parent,
        SUCCESS,
    )


def _remove_uncommitted(folder: LakePath, done: Recovery) -> None:
    batch = folder.name.removeprefix(BATCH_PREFIX)
    log.warning(
        "removing batch %s of %s: it was written but never committed; the next run reads it again",
        batch,
        folder.parent,
    )
    remove_tree(folder)
    done.removed.append(batch)


def _publication_of_part(name: str) -> str | None:
    """`part-<publication>-<n>.parquet` → the publication (object storage); None for other names."""
    stem = name.removesuffix(".parquet").split("-")
    return stem[1] if len(stem) == 3 and stem[0] == "part" else None


def _recover_listed(
    directory: LakePath, loader: Loader, committed: Mapping[str, str | None], done: Recovery
) -> Recovery:
    """`recover` on object storage, where a batch folder holds the parts of every publication not yet
    cleaned up and `_SUCCESS` lists the ones that count:

    - parts of a publication the bookkeeping never committed are deleted (its records will be read again);
    - a committed publication that `_SUCCESS` does not list yet (the run died between its commit and
      `_SUCCESS`) is published now: its files listed, the earlier version's deleted;
    - a batch with no committed publication left is deleted whole;
    - folders of other loaders are left alone.
    """
    foreign: list[str] = []
    for batch in batch_ids(directory):
        folder = directory / f"{BATCH_PREFIX}{batch}"
        if not loader.wrote(folder):
            foreign.append(folder.name)
            continue
        parts: dict[str | None, list[str]] = {}
        for part in folder.glob("*.parquet"):
            parts.setdefault(_publication_of_part(part.name), []).append(part.name)
        success = read_marker(folder, SUCCESS)
        listed = (success or {}).get("publication")
        wanted = None
        if batch in committed:  # (committed before publications were recorded: the listed one is it)
            wanted = committed[batch] if committed[batch] is not None else listed
        if wanted is not None and wanted in parts:
            if listed != wanted:
                _log_completing(folder)
                publish_files(folder, wanted, parts[wanted], loader)
                done.completed.append(batch)
                continue
            stale = [name for publication, names in parts.items() if publication != wanted for name in names]
            for name in stale:
                (folder / name).unlink(missing_ok=True)
            if stale:
                log.warning("removed %d part file(s) of other publications from %s", len(stale), folder)
        else:
            _remove_uncommitted(folder, done)
    if foreign:
        done.foreign = sorted(foreign)
    return done
