"""What a destination connector is, as the sync engine (`tessera/activation/`) sees it.

The engine works out what changed since the destination last confirmed a segment's members, and hands
the connector batches of one kind of change (`add`, `update`, `remove`) no larger than its `batch_size`.
The connector answers each batch with a `Delivery`: the keys the destination confirmed, and the keys it
refused with the destination's own words. Only confirmed keys advance the engine's state, so a key the
connector says nothing about is sent again on the next run: never claim a key the destination did not
confirm. A batch the destination refuses as a whole because of rows in it raises `BatchRefused` (the
engine splits it until the bad rows are alone); a destination that cannot be reached after retries raises
`DestinationError` (the engine stops this segment's sync there, keeping what was confirmed).

Snapshot destinations (`files`, `email`) receive the whole segment each run through `deliver_snapshot`,
all or nothing.

When a person asks to be forgotten (`tessera/activation/erasure.py`), a destination whose API can delete a
person outright says so with `deletes` and does it in `delete` (a CRM's GDPR delete, an ESP's permanent
delete); others take the person out through their ordinary removal (`send` with `remove`). What a snapshot
destination delivered cannot be recalled, so it tells its recipient whom to delete (`suppress`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.connection import ConnectionInfo

if TYPE_CHECKING:
    from connectors.destinations.http import DestinationClient


class Mode(StrEnum):
    """How a destination follows a segment (an activation's `mode`)."""

    MIRROR = "mirror"  #: exactly the segment: members added, updated and removed
    ADD_REMOVE = "add_remove"  #: an audience: members added and removed (a changed identifier replaces the member)
    UPSERT = "upsert"  #: members added and updated, never removed
    SNAPSHOT = "snapshot"  #: the whole segment delivered each run (a file, a message)


class Change(StrEnum):
    ADD = "add"
    UPDATE = "update"
    REMOVE = "remove"


@dataclass(frozen=True)
class Member:
    """One segment member as a destination receives it.

    `identifiers` are normalised and not hashed (e-mail trimmed and lower-cased, phone in E.164): the
    connector hashes them if its platform wants hashes (`connectors/destinations/hashing.py`). Only
    present identifiers are in it. `fields` map the destination's field names to JSON values. For an
    `update`, `previous` is the member as the destination last confirmed it; for a `remove`, the member
    itself is that last confirmed version."""

    key: str
    identifiers: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)
    previous: Member | None = None


@dataclass(frozen=True)
class Delivery:
    """What the destination said about one batch: keys it confirmed, keys it refused (key -> its error)."""

    confirmed: Sequence[str] = ()
    rejected: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def all_of(cls, batch: Sequence[Member]) -> Delivery:
        return cls(confirmed=[member.key for member in batch])


@dataclass(frozen=True)
class SyncRun:
    """Which sync a connector is serving: names for files and messages, and ids stable across retries."""

    segment: str
    destination: str
    mode: Mode
    run_id: str  #: unique per run, sortable (`20261129T060000Z`)
    #: The run id of the last sync of this pair that succeeded ("" before the first): the same for a run
    #: and the re-run that resumes it after a failure, so a batch sent again carries the same idempotency
    #: key, yet different once a sync succeeded in between, so a member who left and came back is news.
    since: str = ""


@dataclass(frozen=True)
class Snapshot:
    """A whole segment for a snapshot destination, with its change since the last delivered snapshot."""

    members: Sequence[Member]
    columns: Sequence[str]  #: field names, in order
    added: int
    removed: int
    previous_size: int | None  #: None on the first delivery


@dataclass(frozen=True)
class Suppression:
    """People erased, for the recipient of a snapshot destination to delete from the copies it kept.

    Each person is the SHA-256 (lower-case hex) of the values the exports carried, so the recipient can
    match them by hashing its own columns, and the notice itself names nobody in clear: `customer_id`,
    `email` and `phone` (each "" when the exports had none)."""

    people: Sequence[Mapping[str, str]]
    erased_at: str  #: when the erasure was requested, ISO 8601 UTC

    COLUMNS: ClassVar[tuple[str, ...]] = ("customer_id_sha256", "email_sha256", "phone_sha256")


class BatchRefused(Exception):
    """The destination refused a whole batch because of rows in it (an HTTP 400 naming a record, say).

    `keys` are the rows it named, when it named them; the engine rejects those and resends the rest, or
    splits the batch until each bad row is alone."""

    def __init__(self, message: str, keys: Sequence[str] = ()):
        super().__init__(message)
        self.keys = tuple(keys)


class DestinationError(RuntimeError):
    """The destination cannot take this sync now (unreachable, failing after retries, misconfigured)."""


class Destination:
    """A destination connector: one instance per sync of one segment to one destination."""

    kind: ClassVar[str]
    #: The modes this kind can follow a segment in.
    modes: ClassVar[frozenset[Mode]]
    #: The largest batch the destination's API takes in one call.
    batch_size: ClassVar[int] = 1000
    #: The identifiers it can match people on; an activation asking for others is refused when it is read.
    identifiers: ClassVar[frozenset[str]] = frozenset({"email", "phone"})
    #: Whether the destination knows a member by its identifiers rather than by its key (an ad audience's
    #: row of hashes, an ESP's e-mail address): two customers with the same identifiers are then one
    #: member there, and removing one of them must not remove what the other still needs.
    keyed_by_identifiers: ClassVar[bool] = False
    #: Whether the destination's API deletes a person outright (`delete`), beyond taking them out of an audience.
    deletes: ClassVar[bool] = False

    def __init__(self, conn: ConnectionInfo, run: SyncRun):
        self.conn, self.run = conn, run
        self.client: DestinationClient | None = None  #: set by HTTP connectors (`connectors/destinations/http.py`)

    @property
    def retried(self) -> int:
        """Requests sent again after a 429, a 5xx or a dropped connection (for the sync log)."""
        return self.client.retried if self.client else 0

    def invalid(self, member: Member) -> str | None:
        """Why this member cannot be sent here (checked before sending), or None. The engine has already
        refused null and duplicate keys and malformed e-mail addresses and phone numbers."""
        return None

    def send(self, change: Change, batch: Sequence[Member]) -> Delivery:
        """Apply one batch of one change; safe to repeat (an answer can be lost after the destination applied it)."""
        raise NotImplementedError(f"{self.kind} destinations take snapshots, not {change} batches")

    def deliver_snapshot(self, snapshot: Snapshot) -> str:
        """Deliver the whole segment, all or nothing; returns where it went (a path, a URL, a message id)."""
        raise NotImplementedError(f"{self.kind} destinations take batches, not snapshots")

    def delete(self, batch: Sequence[Member]) -> Delivery:
        """Delete these people at the destination, not only from the segment's audience (kinds with
        `deletes`); safe to repeat, and a person the destination no longer knows counts as deleted."""
        raise NotImplementedError(f"{self.kind} destinations have no delete call")

    def suppress(self, suppression: Suppression) -> str:
        """Snapshot kinds: tell the recipient whom to delete from what it already received; safe to repeat.
        Returns where the notice went (a path, a URL, a message id)."""
        raise NotImplementedError(f"{self.kind} destinations remove people rather than notify of them")

    def close(self) -> None:
        """Release connections; called once at the end of the sync, failed or not."""
        if self.client:
            self.client.close()
