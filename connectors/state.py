"""Durable per-stream extraction state: the cursor (or file manifest) and the committed batches.

One JSON document per stream, replaced atomically (write, fsync, rename), so a crash leaves
either the old or the new state and never a torn one. The state is committed only after the
batch is durably in the lake: that ordering is what makes a crash in between recoverable.

Only one extraction of a stream may hold its state at a time: two runs that read the same cursor
would each save a state without the other's batch. `StateStore.lock()` serialises them across
processes with a lock file next to the state.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

STATE_VERSION = 1
#: How long an extraction waits for another extraction of the same stream to finish.
LOCK_TIMEOUT_SECONDS = 30 * 60


class StreamLockTimeout(RuntimeError):
    """Another extraction of the stream held its lock for longer than this one would wait."""


@dataclass
class BatchRecord:
    """What one committed batch read and landed, with the state it started from (to re-run it)."""

    batch_id: str
    window_start: str | None
    window_end: str
    start_state: dict[str, Any]
    rows: int
    quarantined: int
    committed_at: str
    #: The id of the batch folders' publication this commit made (their `_LOADER.json` names it too); None
    #: for a batch committed before publications were recorded.
    publication: str | None = None


@dataclass
class StreamState:
    """The state document of one stream."""

    current: dict[str, Any] = field(default_factory=dict)
    current_batch: str | None = None
    batches: dict[str, BatchRecord] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "current": self.current,
            "current_batch": self.current_batch,
            "batches": {k: asdict(v) for k, v in self.batches.items()},
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], origin: Path) -> StreamState:
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"{origin}: unsupported state version {doc.get('version')!r}, expected {STATE_VERSION}")
        return cls(
            current=doc.get("current") or {},
            current_batch=doc.get("current_batch"),
            batches={k: BatchRecord(**v) for k, v in (doc.get("batches") or {}).items()},
        )


class StateStore:
    """Reads and atomically replaces the state of one stream at `<state_dir>/<source>/<stream>.json`,
    and locks it (`<stream>.lock` beside it) for the length of one extraction."""

    def __init__(self, state_dir: Path, source: str, stream: str):
        self.source, self.stream = source, stream
        self.path = Path(state_dir) / source / f"{stream}.json"
        self.lock_path = self.path.with_suffix(".lock")

    @contextmanager
    def lock(self, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
        """Hold the stream's inter-process lock; raise `StreamLockTimeout` after `timeout` seconds.
        The operating system releases it when its holder dies, so a killed run never leaves it stuck."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.lock_path)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise StreamLockTimeout(
                f"{self.source}/{self.stream}: another extraction of this stream has held its lock "
                f"{self.lock_path} for over {timeout:g} s, so this one did not start. Let the other run "
                "finish, then retry this one (a lock whose holder died is released on its own; the file "
                "itself need not be deleted)."
            ) from None
        try:
            yield
        finally:
            lock.release()

    def load(self) -> StreamState:
        if not self.path.exists():
            return StreamState()
        try:
            doc = json.loads(self.path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{self.path}: state file is not valid JSON ({exc}); restore it or delete it to re-extract"
            ) from exc
        return StreamState.from_json(doc, self.path)

    def save(self, state: StreamState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(state.to_json(), fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
