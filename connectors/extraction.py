"""Run one incremental extraction of one stream into the lake: the same code path for Airflow
tasks, the `tessera extract` command and the tests.

The order of steps is the guarantee:
1. lock the stream, so two runs of it (a backfill next to the scheduled run) take turns; the lock is
   held to the end;
2. recover what an interrupted run left in the stream's folders, touching only the connector's own
   folders: uncommitted batches go (the cursor never moved), a committed batch missing `_SUCCESS` gets it;
3. start from the committed state, or, when re-running a committed batch, from the state that
   batch started from, so the re-run reads the same window and replaces the batch;
4. read pages, parse each record, land good rows and quarantine the rest with a reason;
5. publish quarantine and raw batch folders atomically, then commit the new state, then write
   `_SUCCESS` in each folder: only then may readers see the batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import CursorStream, FileDropStream, Stream, Window
from connectors.contract import quarantine_schema
from connectors.destinations.hashing import sha256_hex
from connectors.lake import BatchWriter, Loader, batch_dir, check_replaceable, recover, stream_dir
from connectors.records import RecordError, require
from connectors.state import LOCK_TIMEOUT_SECONDS, BatchRecord, StateStore, StreamState

log = logging.getLogger(__name__)

#: How the connectors name themselves in the `_LOADER.json` of the folders they write.
LOADER_NAME = "tessera-connector"
_ZONES = ("raw", "quarantine")
#: The suppression list of erased people's hashed identifiers, in the state folder: every extraction reads it.
SUPPRESSION_FILE = "suppressed_identifiers.json"
SUPPRESSED_REASON = "suppressed by an erasure request"
#: Which landed columns carry which hashed identifier types of the suppression list.
_SUPPRESSIBLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "receipt_email": ("email",),
    "phone": ("phone_digits",),
    "contact_id": ("crm_contact_id",),
    "user_id": ("crm_contact_id", "email"),
    "subscriber_id": ("esp_subscriber_id",),
    "loyalty_id": ("loyalty_id",),
    "anonymous_id": ("anonymous_id",),
}
_SUPPRESSED = object()  # what `_Landing.add` returns for a record dropped by the suppression list


@dataclass(frozen=True)
class Suppression:
    """SHA-256 hashes of erased people's identifiers, by identifier type. A record carrying one of them is
    dropped at landing, counted, and never written anywhere, quarantine included: it would keep the PII.

    Values are hashed as the erasure wrote them: e-mails trimmed and lower-cased, phones as their digits (the
    list holds the digits of every spelling the sources used, and of the E.164 form), ids trimmed."""

    hashes: dict[str, frozenset[str]]

    @classmethod
    def load(cls, path: Path) -> Suppression | None:
        """The list at `path`, or None when there is none (nobody was erased)."""
        path = Path(path)
        if not path.exists():
            return None
        document = json.loads(path.read_text())
        hashes = {kind: frozenset(values) for kind, values in (document.get("sha256") or {}).items() if values}
        return cls(hashes) if hashes else None

    def matches(self, row: dict[str, Any]) -> bool:
        for column, kinds in _SUPPRESSIBLE_COLUMNS.items():
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                continue
            for kind in kinds:
                normal = _suppression_form(kind, value)
                if normal and sha256_hex(normal) in self.hashes.get(kind, ()):
                    return True
        return False


def _suppression_form(kind: str, value: str) -> str:
    if kind == "email":
        return value.strip().lower()
    if kind == "phone_digits":
        return "".join(ch for ch in value if ch.isdigit())
    return value.strip()


@dataclass
class ExtractionResult:
    source: str
    stream: str
    batch_id: str
    rows: int = 0
    quarantined: int = 0
    suppressed: int = 0  #: records of erased people dropped at landing (`SUPPRESSED_REASON`)
    skipped_seen: int = 0
    rerun: bool = False
    recovered: list[str] = field(default_factory=list)  #: own uncommitted batches recovery deleted
    completed: list[str] = field(default_factory=list)  #: committed batches recovery gave their `_SUCCESS`
    reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> str:
        text = f"{self.source}/{self.stream} batch {self.batch_id}: {self.rows} rows landed, {self.quarantined} quarantined"
        if self.suppressed:
            text += f", {self.suppressed} suppressed"
        if self.reasons:
            text += " (" + "; ".join(f"{n} × {r}" for r, n in self.reasons.most_common(5)) + ")"
        return text


def fingerprint(record_json: str) -> str:
    return hashlib.blake2b(record_json.encode(), digest_size=12).hexdigest()


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat() if ts is not None else None


def _from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class _Landing:
    """The raw and quarantine writers of one batch, buffering one page of rows at a time."""

    def __init__(
        self,
        stream: Stream,
        lake: Path,
        batch_id: str,
        extracted_at: datetime,
        loader: Loader,
        suppression: Suppression | None = None,
    ):
        c = stream.contract
        self.stream = stream
        self.suppression = suppression
        self.suppressed = 0
        self.meta = {"_batch_id": batch_id, "_extracted_at": extracted_at}
        self.publication = uuid.uuid4().hex
        self.raw = BatchWriter(
            batch_dir(lake, "raw", c.source, c.stream, batch_id), c.schema, loader=loader, publication=self.publication
        )
        self.quarantine = BatchWriter(
            batch_dir(lake, "quarantine", c.source, c.stream, batch_id),
            quarantine_schema(),
            loader=loader,
            publication=self.publication,
        )
        self.reasons: Counter = Counter()
        self._good: list[dict[str, Any]] = []
        self._bad: list[dict[str, Any]] = []

    def add(self, raw: Any, record_json: str) -> dict[str, Any] | None | object:
        """Parse one record into the page buffer; return its row, None if it was quarantined, or `_SUPPRESSED`
        if it belongs to an erased person (dropped, only counted)."""
        try:
            row = require(self.stream.parse(raw), self.stream.contract.required)
        except RecordError as exc:
            reason = str(exc)
            self.reasons[reason] += 1
            self._bad.append(
                {"_record_id": self.stream.record_id(raw), "_reason": reason, "_record": record_json, **self.meta}
            )
            return None
        if self.suppression is not None and self.suppression.matches(row):
            self.suppressed += 1
            self.reasons[SUPPRESSED_REASON] += 1
            return _SUPPRESSED
        row.update(self.meta)
        if self.stream.contract.keeps_record:
            row["_record"] = record_json
        self._good.append(row)
        return row

    def flush(self) -> None:
        if self._good:
            self.raw.write(pa.Table.from_pylist(self._good, schema=self.raw.schema))
            self._good = []
        if self._bad:
            self.quarantine.write(pa.Table.from_pylist(self._bad, schema=self.quarantine.schema))
            self._bad = []

    def publish(self) -> None:
        self.flush()
        self.quarantine.publish()
        self.raw.publish()

    def complete(self) -> None:
        """After the state commit: `_SUCCESS` in each published folder, and the replaced versions go."""
        self.quarantine.complete()
        self.raw.complete()

    def abort(self) -> None:
        self.raw.abort()
        self.quarantine.abort()


def _extract_cursor(stream: CursorStream, window: Window, start: dict[str, Any], landing: _Landing, result) -> dict:
    """Read [cursor - lookback, window end), skipping records already landed (by fingerprint)."""
    cursor = start.get("cursor")
    cursor_ts = _from_iso(cursor["ts"]) if cursor else None
    cursor_key = cursor["key"] if cursor else ""
    seen: dict[str, str] = dict(start.get("seen", {}))
    since = cursor_ts - stream.lookback if cursor_ts else None
    end_iso = _iso(window.end)
    for page in stream.fetch(since, window.end):
        for raw in page:
            record_json = stream.record_json(raw)
            fp = fingerprint(record_json)
            if fp in seen:
                result.skipped_seen += 1
                continue
            row = landing.add(raw, record_json)
            if row is _SUPPRESSED:  # neither landed nor remembered: nothing of an erased person stays
                continue
            if row is None:
                seen[fp] = end_iso
                continue
            ts, key = row[stream.cursor_field], str(row[stream.contract.key])
            seen[fp] = _iso(ts)
            if cursor_ts is None or (ts, key) > (cursor_ts, cursor_key):
                cursor_ts, cursor_key = ts, key
        landing.flush()
    if cursor_ts is not None:
        horizon = cursor_ts - stream.lookback
        seen = {fp: ts for fp, ts in seen.items() if datetime.fromisoformat(ts) >= horizon}
    return {"cursor": {"ts": _iso(cursor_ts), "key": cursor_key} if cursor_ts else None, "seen": seen}


def _extract_files(
    stream: FileDropStream, window: Window, current: dict[str, Any], rerun: bool, landing: _Landing, batch_id: str
) -> dict[str, Any]:
    """Process files not yet in the manifest (or, re-running, exactly the files this batch took)."""
    manifest: dict[str, str] = dict(current.get("files", {}))
    if rerun:
        files = sorted(name for name, owner in manifest.items() if owner == batch_id)
    else:
        files = [name for name in stream.list_files(window.end) if name not in manifest]
    for name in files:
        for page in stream.read_file(name):
            for raw in page:
                landing.add(raw, stream.record_json(raw))
            landing.flush()
        manifest[name] = batch_id
    return {"files": manifest}


def extract(
    stream: Stream,
    window: Window,
    *,
    lake: Path,
    state_dir: Path,
    batch_id: str | None = None,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    suppression_file: Path | None = None,
) -> ExtractionResult:
    """Extract one batch of `stream` for `window` into `lake`, committing state in `state_dir`.

    Records of erased people, named by the suppression list (`suppression_file`, by default
    `<state_dir>/suppressed_identifiers.json`), are dropped and counted. Holds the stream's lock from
    recovery to `_SUCCESS`; raises `StreamLockTimeout` when another extraction of the stream keeps it
    longer than `lock_timeout` seconds."""
    c = stream.contract
    store = StateStore(state_dir, c.source, c.stream)
    with store.lock(lock_timeout):
        suppression = Suppression.load(suppression_file or Path(state_dir) / SUPPRESSION_FILE)
        return _extract_locked(stream, window, lake, store, batch_id or window.batch_id(), suppression)


def _extract_locked(
    stream: Stream, window: Window, lake: Path, store: StateStore, batch_id: str, suppression: Suppression | None
) -> ExtractionResult:
    c = stream.contract
    loader = Loader(LOADER_NAME, c.source, c.stream)
    state: StreamState = store.load()
    result = ExtractionResult(c.source, c.stream, batch_id, rerun=batch_id in state.batches)
    started = time.monotonic()
    committed = {b: record.publication for b, record in state.batches.items()}
    recoveries = [recover(stream_dir(lake, zone, c.source, c.stream), loader, committed) for zone in _ZONES]
    result.recovered = sorted({b for r in recoveries for b in r.removed})
    result.completed = sorted({b for r in recoveries for b in r.completed})
    for zone in _ZONES:  # before reading the source: a batch another loader owns is never replaced
        check_replaceable(batch_dir(lake, zone, c.source, c.stream, batch_id), loader)
    previous = state.batches.get(batch_id)
    start_state = previous.start_state if previous is not None else state.current
    landing = _Landing(stream, lake, batch_id, datetime.now(UTC), loader, suppression)
    log.info(
        "extracting %s batch %s window [%s, %s)%s",
        c.name,
        batch_id,
        _iso(window.start),
        _iso(window.end),
        " (re-run: replaces the batch)" if result.rerun else "",
    )
    try:
        if isinstance(stream, CursorStream):
            end_state = _extract_cursor(stream, window, start_state, landing, result)
            record_start = start_state
        elif isinstance(stream, FileDropStream):
            end_state = _extract_files(stream, window, state.current, result.rerun, landing, batch_id)
            record_start = {}
        else:
            raise TypeError(f"{type(stream).__name__} is neither a CursorStream nor a FileDropStream")
        landing.publish()
    except BaseException:
        landing.abort()
        raise
    result.rows, result.quarantined, result.reasons = landing.raw.rows, landing.quarantine.rows, landing.reasons
    result.suppressed = landing.suppressed
    state.batches[batch_id] = BatchRecord(
        batch_id=batch_id,
        window_start=_iso(window.start),
        window_end=_iso(window.end),
        start_state=record_start,
        rows=result.rows,
        quarantined=result.quarantined,
        committed_at=datetime.now(UTC).isoformat(),
        publication=landing.publication,
    )
    if previous is None or state.current_batch == batch_id:
        state.current, state.current_batch = end_state, batch_id
    store.save(state)
    landing.complete()  # a crash before this is completed by the next run's recovery
    result.seconds = time.monotonic() - started
    log.info(result.summary())
    if result.quarantined:
        log.warning(
            "%d records of %s batch %s are in quarantine at %s",
            result.quarantined,
            c.name,
            batch_id,
            batch_dir(lake, "quarantine", c.source, c.stream, batch_id),
        )
    return result
