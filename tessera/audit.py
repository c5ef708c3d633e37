"""The audit log: who or what did what to customer data, and when, in one append-only file.

Every run that changes data (an extraction that landed a batch, a published build, a sync to a destination,
a released batch, an erasure request served) appends one JSON line to `$TESSERA_HOME/audit/audit.jsonl`.
Lines are only ever appended, and each carries the SHA-256 of the line before it, so an edited or deleted
line breaks the chain and `verify_audit_log` says where. The log must not become a copy of the PII it
audits: a line holding a plain e-mail address or phone number is refused (identifiers go in hashed).
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tessera.home import TesseraHome

#: The chain's first link: what a first line names as the line before it.
GENESIS = "0" * 64

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_E164 = re.compile(r"\+[1-9]\d{6,14}\b")


class AuditLogTampered(RuntimeError):
    """A line of the audit log was changed, removed or inserted after it was written."""


def audit_log_path(home: TesseraHome) -> Path:
    return home.root / "audit" / "audit.jsonl"


def actor() -> str:
    """Who acts: the Airflow task when running inside one (Airflow exports its context), else the OS user."""
    dag, task, run = (os.environ.get(f"AIRFLOW_CTX_{k}") for k in ("DAG_ID", "TASK_ID", "DAG_RUN_ID"))
    if dag and task:
        return f"airflow:{dag}.{task}" + (f" run {run}" if run else "")
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for the uid, as in some containers
        return f"uid:{os.getuid()}"


def record_event(home: TesseraHome, event: str, **details: Any) -> dict[str, Any]:
    """Append one event (`run`, `publication`, `sync`, `release`, `erasure`, …) and return the line written.

    Raises ValueError if the details hold a plain e-mail address or phone number."""
    path = audit_log_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path) as log:
        last = _last_line(log)
        entry = {
            "seq": json.loads(last)["seq"] + 1 if last else 1,
            "at": datetime.now(UTC).isoformat(),
            "actor": actor(),
            "event": event,
            "details": details,
            "prev": _digest(last) if last else GENESIS,
        }
        line = json.dumps(entry, sort_keys=True, default=str, ensure_ascii=False)
        _refuse_pii(line, event)
        log.seek(0, os.SEEK_END)
        log.write(line.encode("utf-8") + b"\n")
        log.flush()
        os.fsync(log.fileno())
    return entry


def audit_entries(home: TesseraHome, event: str | None = None) -> list[dict[str, Any]]:
    """Every entry, oldest first; only those of `event` when given."""
    path = audit_log_path(home)
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [e for e in entries if event is None or e["event"] == event]


def verify_audit_log(home: TesseraHome) -> int:
    """The number of entries, after checking that each line names the one before it; raises AuditLogTampered."""
    path = audit_log_path(home)
    if not path.exists():
        return 0
    prev = GENESIS
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AuditLogTampered(f"{path}: line {number} is not JSON ({exc})") from None
        if entry.get("prev") != prev or entry.get("seq") != number:
            raise AuditLogTampered(
                f"{path}: line {number} does not follow line {number - 1} (a line was changed, removed or inserted)"
            )
        prev = _digest(line)
    return len(lines)


def _last_line(log: Any) -> str | None:
    """The file's last line, read from its end: appending costs the same however long the log grows."""
    end = log.seek(0, os.SEEK_END)
    if end == 0:
        return None
    block, position, tail = 4096, end, b""
    while position > 0:
        position = max(0, position - block)
        log.seek(position)
        tail = log.read(end - position)
        if tail.rstrip(b"\n").count(b"\n") >= 1:
            break
    return tail.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("utf-8")


def _digest(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def _refuse_pii(line: str, event: str) -> None:
    if _EMAIL.search(line) or _E164.search(line):
        raise ValueError(f"audit event {event!r} holds a plain e-mail address or phone number; pass it hashed")


@contextmanager
def _locked(path: Path) -> Iterator[Any]:
    """The log opened for reading and appending, under an exclusive lock: writers from several processes
    (Airflow tasks, the CLI) each append a whole line that names the line before it."""
    with open(path, "a+b") as log:
        fcntl.flock(log.fileno(), fcntl.LOCK_EX)
        try:
            yield log
        finally:
            fcntl.flock(log.fileno(), fcntl.LOCK_UN)
