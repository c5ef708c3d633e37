"""A person's erasure, carried to every destination that received them, and out of the sync state.

For each (segment, destination) whose state holds the person (by customer id, or by an e-mail or phone
sent for them), their rows leave the state in one transaction and what the destination still has to do
is queued in the same file (`state.erasure_queue`). Then the destination is told:

- a kind whose API deletes a person (`Destination.deletes`: CRM GDPR delete, ESP permanent delete, the
  webhook's `segment.members.erased` event, a PostgreSQL `DELETE`) deletes them;
- an audience without one (ad platforms) removes them now, through its ordinary removal, hashed as it
  hashes, whatever the pair's mode: the member does not wait for the next sync;
- a snapshot kind (files, e-mail) cannot recall what it delivered, so its recipient gets a suppression
  notice naming the person only by SHA-256 hashes of the values the exports carried.

A queued row leaves the queue only when the destination confirmed it; a destination that fails keeps
its rows there and is reported, and the next call finishes the job. Finally the state file is rewritten
(`state.rewrite_state`) so the deleted rows' bytes are gone from the disk, not only from the tables. A
call that finds nothing to do changes nothing and says so. All of it runs under the pair's sync lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.connection import ConnectionInfo
from connectors.destinations.base import (
    BatchRefused,
    Change,
    Delivery,
    Destination,
    DestinationError,
    Member,
    Mode,
    Suppression,
    SyncRun,
)
from connectors.masking import mask_identifier
from tessera.activation import state
from tessera.home import TesseraHome

log = logging.getLogger(__name__)

#: Queue actions: `erase` (delete, or else remove, at the destination) and `notify` (a suppression notice).
ERASE, NOTIFY = "erase", "notify"
#: How long to wait for a running sync of a pair before reporting it busy.
DEFAULT_WAIT_SECONDS = 60.0


def propagate_erasure(
    home: TesseraHome,
    customer_ids: list[str],
    identifiers: list[tuple[str, str]],
    *,
    wait: float = DEFAULT_WAIT_SECONDS,
    connection: Callable[[str], ConnectionInfo] | None = None,
) -> list[dict]:
    """Erase the person (their customer ids and normalised (`email`|`phone`, value) identifiers) from every
    destination that received them and from every sync state; one summary per sync state, with no PII.

    `connection(destination)` gives a destination's connection (default: the Airflow connection
    `tessera_dest_<destination>`, as syncs read it). Summaries have `status`: `done`, `nothing_to_do`,
    `pending` (the destination failed: call again), or `busy` (a sync held the pair for `wait` seconds)."""
    if connection is None:
        from tessera.connections import destination_connection as connection
    import duckdb

    person = _Person(customer_ids, identifiers)
    summaries = []
    for path in sorted(state.state_dir(home).glob("*/*.duckdb")):
        segment, destination = path.parent.name, path.stem
        try:
            summaries.append(_erase_from_pair(home, segment, destination, person, wait, connection))
        except state.SyncBusyError:
            error = f"a sync of the pair held its lock for {wait:g}s"
            summaries.append(_summary(segment, destination, status="busy", error=error))
        except duckdb.IOException as exc:  # a reader in another process (`tessera status`) has the file open
            summaries.append(_summary(segment, destination, status="busy", error=f"the state file is in use: {exc}"))
    log.info(
        "erasure propagated",
        extra={"pairs": len(summaries), **{s: sum(x["status"] == s for x in summaries) for s in _STATUSES}},
    )
    return summaries


_STATUSES = ("done", "nothing_to_do", "pending", "busy")


class _Person:
    """The erased person's keys and identifiers, and every text form that could name them in a log."""

    def __init__(self, customer_ids: Sequence[str], identifiers: Sequence[tuple[str, str]]):
        self.keys = sorted({key for key in customer_ids if key})
        self.identifiers = sorted({(kind, value) for kind, value in identifiers if value})

    def mentions(self, extra: Sequence[tuple[str, str]] = ()) -> list[str]:
        pairs = [*self.identifiers, *extra]
        return [*self.keys, *(v for _, v in pairs), *(mask_identifier(k, v) or "" for k, v in pairs)]


def _erase_from_pair(
    home: TesseraHome,
    segment: str,
    destination: str,
    person: _Person,
    wait: float,
    connection: Callable[[str], ConnectionInfo],
) -> dict[str, Any]:
    with state.locked_pair(home, segment, destination, wait=wait) as path:
        owed = state.rewrite_owed(path)
        owed_before = owed.exists()  # an earlier call deleted rows and stopped before the rewrite
        owed.touch()
        with state.connected(path) as con:
            mode = state.last_mode(con)
            matched = state.members_matching(con, person.keys, person.identifiers)
            sent = [(kind, value) for _, payload in matched for kind, value in _identifiers(payload).items()]
            mentions = person.mentions(sent) + [key for key, _ in matched]
            action = NOTIFY if mode == Mode.SNAPSHOT.value else ERASE
            entries = [
                (_queue_key(action, key), action, _queued_payload(action, key, payload)) for key, payload in matched
            ]
            cleaned = state.queue_erasures(con, entries, person.keys + [key for key, _ in matched], mentions)
            queued = state.queued_erasures(con)
            summary = _summary(segment, destination, mode=mode, members=len(matched), cleaned=cleaned)
            if queued:
                _tell_destination(con, segment, destination, mode, queued, connection, summary, mentions)
            summary["pending"] = len(state.queued_erasures(con))
        if not (matched or cleaned or queued or owed_before):
            owed.unlink()
            summary["status"] = "nothing_to_do"
            return summary
        state.rewrite_state(path)
        owed.unlink()
    summary["status"] = "pending" if summary["pending"] else "done"
    log.info(
        "erasure of a person in %s -> %s: %s", segment, destination, summary["status"],
        extra={k: v for k, v in summary.items() if k not in ("segment", "destination", "error")},
    )  # fmt: skip
    return summary


def _tell_destination(con, segment, destination, mode, queued, connection, summary, mentions) -> None:
    """Send what the queue holds; confirmed rows leave it, the rest stay with the (scrubbed) error."""
    from connectors.destinations.registry import destination_class

    by_action: dict[str, list[tuple[str, str]]] = {}
    for key, action, payload in queued:
        by_action.setdefault(action, []).append((key, payload))
        if action == ERASE:  # rows an earlier call queued, maybe for someone else: their errors name them too
            mentions = [*mentions, *_Person([key], list(_identifiers(payload).items())).mentions()]
    instance: Destination | None = None
    try:
        conn = connection(destination)
        cls = destination_class(str(conn.extra.get("kind") or ""))
        summary["kind"] = cls.kind
        before = state.last_success(con)
        run = SyncRun(
            segment,
            destination,
            Mode(mode) if mode else next(iter(sorted(cls.modes))),
            datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            before["run_id"] if before else "",
        )
        instance = cls(conn, run)
    except Exception as exc:  # an undefined or misconfigured connection: nothing could be sent
        error = state.scrubbed(f"{type(exc).__name__}: {exc}", mentions)
        for action, rows in by_action.items():
            state.erasures_failed(con, action, [key for key, _ in rows], error)
        summary["error"] = error
        return
    try:
        for action, rows in by_action.items():
            if action == NOTIFY:
                _notify(con, instance, rows, summary, mentions)
            else:
                _erase(con, instance, rows, summary, mentions)
    finally:
        instance.close()


def _erase(con, destination: Destination, rows: list[tuple[str, str]], summary: dict, mentions: list[str]) -> None:
    """Delete where the API can, else remove through the destination's ordinary removal, a batch at a time."""
    if destination.deletes:
        summary["action"], call = "deleted", destination.delete
    elif destination.modes & {Mode.MIRROR, Mode.ADD_REMOVE}:
        summary["action"], call = "removed", lambda batch: destination.send(Change.REMOVE, batch)
    else:  # no current kind: an upsert-only destination without a delete call keeps what it has
        summary["action"], call = "kept", lambda batch: Delivery.all_of(batch)
    members = [Member(key=key, identifiers=json.loads(payload)["identifiers"]) for key, payload in rows]
    for first in range(0, len(members), destination.batch_size):
        batch = members[first : first + destination.batch_size]
        try:
            delivery = call(batch)
        except (DestinationError, BatchRefused) as exc:
            _failed(con, ERASE, [m.key for m in batch], exc, summary, mentions)
            return
        state.erasures_done(con, ERASE, delivery.confirmed)
        summary["sent"] += len(delivery.confirmed)
        if delivery.rejected:
            error = "; ".join(sorted(set(delivery.rejected.values())))
            _failed(con, ERASE, list(delivery.rejected), DestinationError(error), summary, mentions)


def _notify(con, destination: Destination, rows: list[tuple[str, str]], summary: dict, mentions: list[str]) -> None:
    """One suppression notice for everyone queued: a snapshot's recipient deletes them from its copies."""
    people = [json.loads(payload) for _, payload in rows]
    erased_at = min(person.pop("erased_at") for person in people)
    try:
        summary["location"] = destination.suppress(Suppression(people=people, erased_at=erased_at))
    except (DestinationError, OSError) as exc:
        _failed(con, NOTIFY, [key for key, _ in rows], exc, summary, mentions)
        return
    summary["action"] = "suppression_notice"
    state.erasures_done(con, NOTIFY, [key for key, _ in rows])
    summary["sent"] += len(rows)


def _failed(con, action: str, keys: list[str], exc: Exception, summary: dict, mentions: list[str]) -> None:
    error = state.scrubbed(str(exc), mentions)
    state.erasures_failed(con, action, keys, error)
    summary["error"] = error
    log.error("erasure in %s -> %s not confirmed: %s", summary["segment"], summary["destination"], error)


def _identifiers(payload: str) -> dict[str, str]:
    return {k: v for k, v in (json.loads(payload).get("identifiers") or {}).items() if v}


def _queued_payload(action: str, key: str, payload: str) -> str:
    """What the destination needs: identifiers as sent (an erasure), or only their hashes (a notice)."""
    identifiers = _identifiers(payload)
    if action == ERASE:
        return json.dumps({"identifiers": identifiers}, sort_keys=True)
    hashes = {"customer_id_sha256": _sha256(key)}
    hashes |= {
        f"{name}_sha256": _sha256(identifiers[name]) if name in identifiers else "" for name in ("email", "phone")
    }
    return json.dumps({**hashes, "erased_at": datetime.now(UTC).isoformat(timespec="seconds")}, sort_keys=True)


def _queue_key(action: str, key: str) -> str:
    """A notice needs nobody's key in clear, so its queue row is keyed by the key's hash."""
    return _sha256(key) if action == NOTIFY else key


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _summary(segment: str, destination: str, **values: Any) -> dict[str, Any]:
    return {
        "segment": segment,
        "destination": destination,
        "kind": None,
        "mode": None,
        "status": "running",
        "action": None,  #: deleted | removed | suppression_notice | kept
        "members": 0,  #: state rows that were the person
        "cleaned": 0,  #: other state rows deleted or scrubbed (rejections, invalid rows, sync log)
        "sent": 0,  #: queued rows the destination confirmed now
        "pending": 0,  #: queued rows still to send (call again)
        "location": None,
        "error": None,
        **values,
    }
