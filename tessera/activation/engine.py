"""One sync of one segment to one destination: plan, send in batches, advance state only on confirmation.

The order of work is what makes a sync converge. Removals go first (a withdrawn consent must leave the
destination even when adds later fail), then updates, then adds. Each batch is at most the destination's
documented size; what it confirms is committed to the state before the next batch is sent, and what it
refuses is recorded with its error and sent again on later runs. A batch refused as a whole because of
rows in it is split until those rows are alone, so one bad row never blocks the rest. A destination that
fails for good stops this sync; everything confirmed so far stays confirmed, and the next run picks up
the rest. Snapshot destinations get the whole segment, and the state becomes it only once delivered.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connectors.connection import ConnectionInfo
from connectors.destinations.base import (
    BatchRefused,
    Change,
    Delivery,
    Destination,
    DestinationError,
    Member,
    Mode,
    Snapshot,
    SyncRun,
)
from connectors.destinations.registry import destination_class
from tessera.activation import plan as planning
from tessera.activation import state
from tessera.activation.activations import Activation, ActivationError
from tessera.home import TesseraHome

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

#: How many invalid and rejected rows a result keeps as examples.
SAMPLES = 10


@dataclass
class SyncResult:
    """What one sync did, as its sync log row says it."""

    segment: str
    destination: str
    mode: str
    run_id: str
    status: str = "running"  #: success | failed | dry_run
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    plan: planning.Plan | None = None
    added: int = 0
    updated: int = 0
    removed: int = 0
    invalid: int = 0
    rejected: int = 0
    retried: int = 0
    excluded: int = 0
    members: int = 0
    location: str | None = None
    error: str | None = None
    samples: dict[str, list[tuple[str | None, str]]] = field(default_factory=lambda: {"invalid": [], "rejected": []})

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def log_row(self) -> dict[str, Any]:
        row = {name: getattr(self, name) for name in state.LOG_COLUMNS if hasattr(self, name)}
        for change in ("add", "update", "remove"):
            row[f"planned_{change}"] = getattr(self.plan, change) if self.plan else None
        return row


def run_id_for(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def sync(
    home: TesseraHome,
    activation: Activation,
    conn: ConnectionInfo,
    *,
    run_id: str | None = None,
    dry_run: bool = False,
    full_resync: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> SyncResult:
    """Sync one activation from the published warehouse; the result is also written to the sync log.

    `progress(change, done, total)` is called after each batch. Raises only for what stops a sync before it
    starts (a bad activation, no published warehouse, another run holding the pair); a destination failing
    is a `failed` result, logged."""
    from tessera.publication import published_path

    destination_cls = _destination_class(activation, conn)
    warehouse = published_path(home)
    if not warehouse.exists():
        raise FileNotFoundError(f"no published warehouse at {warehouse}: run `tessera transform` first")
    run_id = run_id or run_id_for()
    result = SyncResult(activation.segment, activation.destination, activation.mode.value, run_id)
    with state.open_state(home, activation.segment, activation.destination) as con:
        before = state.last_success(con)
        run = SyncRun(
            activation.segment, activation.destination, activation.mode, run_id, before["run_id"] if before else ""
        )
        planning.attach_warehouse(con, str(warehouse))
        planning.build_audience(con, activation)
        result.plan = planning.build_plan(
            con, activation, full_resync=full_resync, shared=destination_cls.keyed_by_identifiers
        )
        result.invalid, result.excluded, result.members = result.plan.invalid, result.plan.excluded, result.plan.members
        result.samples["invalid"] = con.execute(
            f"select key, invalid from audience where invalid is not null order by key limit {SAMPLES}"
        ).fetchall()
        if dry_run:
            result.status, result.finished_at = "dry_run", datetime.now(UTC)
            return result
        con.execute("delete from invalid_rows")
        con.execute(
            "insert into invalid_rows select ?, key, invalid from audience where invalid is not null", [run.run_id]
        )
        destination = None
        try:
            destination = destination_cls(conn, run)  # a misconfigured connection is a failed sync, logged
            if activation.mode is Mode.SNAPSHOT:
                _snapshot(con, destination, activation, result)
            else:
                _batches(con, destination, result, progress)
            result.status = "success"
        except DestinationError as exc:
            result.status, result.error = "failed", str(exc)
            log.error("sync %s failed: %s", activation.name, exc)
        finally:
            if destination is not None:
                result.retried = destination.retried
                destination.close()
            result.finished_at = datetime.now(UTC)
            state.write_log(con, result.log_row())
    log.info(
        "synced %s: %s", activation.name, result.status,
        extra={k: v for k, v in result.log_row().items() if k not in ("started_at", "finished_at")},
    )  # fmt: skip
    return result


def _destination_class(activation: Activation, conn: ConnectionInfo) -> type[Destination]:
    kind = conn.extra.get("kind")
    if not kind:
        raise ActivationError(f"connection {conn.conn_id!r} has no extra.kind; set it to the destination's kind")
    cls = destination_class(kind)
    if activation.mode not in cls.modes:
        raise ActivationError(
            f"segment {activation.segment}: destination {activation.destination} is a {kind} destination, which "
            f"takes modes {', '.join(sorted(m.value for m in cls.modes))}, not {activation.mode.value}"
        )
    unsupported = set(activation.identifiers) - cls.identifiers
    if unsupported and activation.mode is not Mode.SNAPSHOT:
        raise ActivationError(
            f"segment {activation.segment}: a {kind} destination matches on {', '.join(sorted(cls.identifiers))}, "
            f"not {', '.join(sorted(unsupported))}"
        )
    return cls


def _batches(con, destination: Destination, result: SyncResult, progress) -> None:
    con.execute("delete from members where key in (select key from plan_release)")  # nothing to send for them
    for change, table in ((Change.REMOVE, "plan_remove"), (Change.UPDATE, "plan_update"), (Change.ADD, "plan_add")):
        total = con.execute(f"select count(*) from {table}").fetchone()[0]
        done = 0
        for members in _read_members(con, table, change, destination.batch_size):
            sendable, refused = [], []
            for member in members:
                reason = destination.invalid(member) if change is not Change.REMOVE else None
                if reason:
                    refused.append((result.run_id, member.key, reason))
                    _sample(result, "invalid", member.key, reason)
                else:
                    sendable.append(member)
            if refused:
                result.invalid += len(refused)
                con.executemany("insert into invalid_rows values (?, ?, ?)", refused)
            delivery = _deliver(destination, change, sendable) if sendable else Delivery()
            state.confirm(con, table, delivery.confirmed, removed=change is Change.REMOVE)
            state.reject(con, table, dict(delivery.rejected))
            setattr(result, _COUNTER[change], getattr(result, _COUNTER[change]) + len(delivery.confirmed))
            result.rejected += len(delivery.rejected)
            for key, error in delivery.rejected.items():
                _sample(result, "rejected", key, error)
            done += len(members)
            if progress:
                progress(change.value, done, total)


_COUNTER = {Change.ADD: "added", Change.UPDATE: "updated", Change.REMOVE: "removed"}


def _deliver(destination: Destination, change: Change, batch: Sequence[Member]) -> Delivery:
    """Send a batch; when the destination refuses it whole because of rows in it, reject the rows it names
    and send the rest, or split it in halves until each bad row is alone."""
    try:
        return destination.send(change, batch)
    except BatchRefused as refused:
        named = set(refused.keys) & {member.key for member in batch}
        if named:
            rest = [member for member in batch if member.key not in named]
            delivered = _deliver(destination, change, rest) if rest else Delivery()
            return _merge(delivered, Delivery(rejected=dict.fromkeys(sorted(named), str(refused))))
        if len(batch) == 1:
            return Delivery(rejected={batch[0].key: str(refused)})
        middle = len(batch) // 2
        return _merge(_deliver(destination, change, batch[:middle]), _deliver(destination, change, batch[middle:]))


def _merge(first: Delivery, second: Delivery) -> Delivery:
    return Delivery(confirmed=[*first.confirmed, *second.confirmed], rejected={**first.rejected, **second.rejected})


def _read_members(con: duckdb.DuckDBPyConnection, table: str, change: Change, size: int) -> Iterator[list[Member]]:
    """The plan's rows a batch at a time, by their number in key order (so a re-run batches them alike)."""
    previous = ", previous" if change is Change.UPDATE else ""
    first = 1
    while rows := con.execute(
        f"select key, payload{previous} from {table} where seq between ? and ? order by seq", [first, first + size - 1]
    ).fetchall():
        yield [_member(row[0], row[1], row[2] if previous else None) for row in rows]
        first += size


def _member(key: str, payload: str, previous: str | None = None) -> Member:
    data = json.loads(payload)
    identifiers = {name: value for name, value in (data.get("identifiers") or {}).items() if value is not None}
    return Member(
        key=key,
        identifiers=identifiers,
        fields=data.get("fields") or {},
        previous=_member(key, previous) if previous else None,
    )


def _snapshot(con, destination: Destination, activation: Activation, result: SyncResult) -> None:
    """Deliver the whole audience; then it becomes the state, in one transaction."""
    before = state.last_success(con)
    rows = con.execute("select key, payload from sendable order by key").fetchall()
    members = [_member(key, payload) for key, payload in rows]
    added, removed = con.execute(
        """
        select
            (select count(*) from sendable where key not in (select key from members)),
            (select count(*) from members where key not in (select key from sendable))
        """
    ).fetchone()
    snapshot = Snapshot(
        members=members,
        columns=list(activation.fields),
        added=added,
        removed=removed,
        previous_size=before["members"] if before else None,
    )
    result.location = destination.deliver_snapshot(snapshot)
    con.execute("begin")
    con.execute("delete from members")
    con.execute("insert into members select key, row_hash, payload, now() from sendable")
    con.execute("commit")
    result.added, result.removed = added, removed


def _sample(result: SyncResult, kind: str, key: str | None, reason: str) -> None:
    if len(result.samples[kind]) < SAMPLES:
        result.samples[kind].append((key, reason))
