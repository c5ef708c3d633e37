"""Holding and releasing batches: the verdict markers in a batch folder, and the release audit trail.

A check writes `_CHECKED.json` (no critical failure; the warnings inside) or `_HELD.json` (the critical
failures inside), and removes the other one, in that order: a folder holding both is held, so a reader
never sees a batch turn visible before its verdict is whole. Both carry `at`, the time the verdict was
written, which dbt reads as the time a checked batch became visible.

An operator who has looked at a held batch and accepts it releases it (`tessera check --release`):
`_RELEASED.json` records who, when, why and the failures they accepted, and the same record is appended
to `$TESSERA_HOME/checks/releases.jsonl` first, so the audit trail never misses a release. A released
batch stays released: later checks keep its `_RELEASED.json`. Reading held batches imports no GX.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tessera.checks.results import CheckResult, Failure
from tessera.home import TesseraHome

if TYPE_CHECKING:
    from connectors.contract import StreamContract


class ReleaseRefused(RuntimeError):
    """A release that cannot be done: the batch is not held, is already released, or does not exist."""


@dataclass(frozen=True)
class HeldBatch:
    stream: str
    batch_id: str
    folder: Path
    held_at: str
    failures: list[Failure]

    @property
    def first_failure(self) -> str:
        return self.failures[0].message() if self.failures else "(no failure recorded)"


def releases_log(home: TesseraHome) -> Path:
    """The audit trail: one JSON line per release."""
    from tessera.checks.context import checks_dir

    return checks_dir(home) / "releases.jsonl"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def record_verdict(folder: Path, result: CheckResult) -> Path:
    """Write the batch's verdict marker and remove the opposite one (a stale verdict of an earlier check)."""
    from connectors.lake import CHECKED, HELD, remove_marker, write_marker

    common = {
        "at": _now(),
        "suite": result.suite,
        "validated_at": result.validated_at.isoformat() if result.validated_at else None,
        "rows": result.rows,
        "warnings": [failure.to_dict() for failure in result.warnings],
    }
    if result.passed:
        path = write_marker(folder, CHECKED, common)
        remove_marker(folder, HELD)
    else:
        path = write_marker(folder, HELD, {**common, "failures": [failure.to_dict() for failure in result.critical]})
        remove_marker(folder, CHECKED)
    return path


def release_batch(home: TesseraHome, contract: StreamContract, batch_id: str, reason: str, who: str) -> Path:
    """Release a held batch: the transform reads it from its next run on. Returns the `_RELEASED.json` path."""
    from connectors.lake import HELD, RELEASED, batch_dir, batch_state, read_marker, write_marker

    folder = batch_dir(home.lake, "raw", contract.source, contract.stream, batch_id)
    name = f"{contract.name} batch {batch_id}"
    if not folder.is_dir():
        raise ReleaseRefused(f"cannot release {name}: {folder} does not exist")
    if not reason.strip():
        raise ReleaseRefused(f"cannot release {name} without a reason: say why its failures are acceptable")
    state = batch_state(folder)
    if state == "released":
        earlier = read_marker(folder, RELEASED) or {}
        raise ReleaseRefused(
            f"{name} is already released (by {earlier.get('by')} at {earlier.get('at')}: {earlier.get('reason')})"
        )
    if state != "held":
        raise ReleaseRefused(f"cannot release {name}: it is {state}, not held; only a held batch can be released")
    record = {
        "at": _now(),
        "by": who,
        "reason": reason.strip(),
        "stream": contract.name,
        "batch_id": batch_id,
        "failures": (read_marker(folder, HELD) or {}).get("failures", []),
    }
    _append_audit(releases_log(home), record)
    from connectors.masking import mask_text
    from tessera.audit import record_event

    # The project's audit log too; the failures' sample values stay in the batch's markers, not in the log.
    record_event(home, "release", stream=contract.name, batch_id=batch_id, by=who, reason=mask_text(record["reason"]))
    return write_marker(folder, RELEASED, record)


def _append_audit(path: Path, record: dict) -> None:
    """One line, written in one call to a file opened for appending, then synced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    with open(path, "a") as audit:
        audit.write(line)
        audit.flush()
        os.fsync(audit.fileno())


def held_batches(home: TesseraHome) -> list[HeldBatch]:
    """Every batch currently held back, stream by stream in batch order (for `tessera status`)."""
    from connectors.lake import BATCH_PREFIX, HELD, batch_ids, batch_state, read_marker, stream_dir
    from connectors.registry import registry
    from tessera.checks.volume import batch_order

    held = []
    for contract in registry().streams:
        directory = stream_dir(home.lake, "raw", contract.source, contract.stream)
        for batch_id in sorted(batch_ids(directory), key=batch_order):
            folder = directory / f"{BATCH_PREFIX}{batch_id}"
            if batch_state(folder) != "held":
                continue
            doc = read_marker(folder, HELD) or {}
            failures = [Failure.from_dict(f) for f in doc.get("failures", [])]
            held.append(HeldBatch(contract.name, batch_id, folder, str(doc.get("at", "")), failures))
    return held
