"""Durable per-stream extraction state: the cursor (or file manifest) and the committed batches.

One JSON document per stream, replaced atomically (write, fsync, rename), so a crash leaves
either the old or the new state and never a torn one. The state is committed only after the
batch is durably in the lake: that ordering is what makes a crash in between recoverable.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_VERSION = 1


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
    """Reads and atomically replaces the state of one stream at `<state_dir>/<source>/<stream>.json`."""

    def __init__(self, state_dir: Path, source: str, stream: str):
        self.path = Path(state_dir) / source / f"{stream}.json"

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
