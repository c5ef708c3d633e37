"""Webhook destination: each batch of segment changes is one signed POST to the customer's endpoint.

Requests follow Standard Webhooks (https://www.standardwebhooks.com/) so receivers can verify them with
any of its libraries: `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,` + base64 of
HMAC-SHA256 over `{id}.{timestamp}.{body}`). The `standardwebhooks` package is not a dependency: signing
is the few lines below, checked against the spec's own test vector.

The `webhook-id` is derived from the batch's content (segment, destination, change, members) and the
last successful sync, so the same batch sent again, by the HTTP retries or by the run that resumes a
failed one, carries the same id and a receiver that deduplicates on it applies the batch once. The timestamp and signature are made
afresh on every attempt, as the spec asks, so a retry after a long throttle is not refused as a replay.

A person who asks to be forgotten is sent as `segment.members.erased` (whatever the mode): the receiver
deletes everything it keeps about them, not only their membership.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Generator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.connection import ConnectionInfo
from connectors.destinations.base import (
    BatchRefused,
    Change,
    Delivery,
    Destination,
    DestinationError,
    Member,
    Mode,
    SyncRun,
)
from connectors.destinations.http import DestinationClient

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
EVENT_TYPES = {
    Change.ADD: "segment.members.added",
    Change.UPDATE: "segment.members.updated",
    Change.REMOVE: "segment.members.removed",
}
ERASED_EVENT = "segment.members.erased"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a signing secret: the base64 part of `whsec_<base64>`, or a raw secret's UTF-8 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :] + "==")  # the spec's libraries accept unpadded
    except binascii.Error:
        raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    if not key:
        raise ValueError("the whsec_ secret is empty")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one attempt: `v1,` + base64(HMAC-SHA256(key, id.timestamp.body))."""
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def message_id(run: SyncRun, change: Change | str, batch: Sequence[Member]) -> str:
    """An id that is the same whenever this exact batch is sent again, and differs for any other batch.

    It includes the last successful sync (`run.since`): a run resuming a failed one sends the same ids,
    while a member who left and came back after a successful sync is a new message. An update includes
    the member's previous version, so a value that changes back and forth gives distinct messages."""
    members = [
        [m.key, dict(m.identifiers), dict(m.fields), _member_json(m.previous) if change is Change.UPDATE else None]
        for m in sorted(batch, key=lambda m: m.key)
    ]
    canonical = json.dumps(
        [run.segment, run.destination, run.since, str(change), members], sort_keys=True, separators=(",", ":")
    )
    return "msg_" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _member_json(member: Member | None) -> dict[str, Any] | None:
    if member is None:
        return None
    return {"customer_id": member.key, "identifiers": dict(member.identifiers), "fields": dict(member.fields)}


class _StandardWebhookAuth(httpx.Auth):
    """Signs each attempt when it is sent, with the current time (httpx runs this on every request)."""

    def __init__(self, key: bytes):
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp = int(time.time())
        request.headers["webhook-timestamp"] = str(timestamp)
        request.headers["webhook-signature"] = sign(self.key, request.headers["webhook-id"], timestamp, request.content)
        yield request


class WebhookDestination(Destination):
    """Segment changes as signed `segment.members.added|updated|removed` events to one endpoint.

    Connection: `host` is the endpoint's full URL, `password` the signing secret (`whsec_<base64>`, or a
    raw shared secret used as its UTF-8 bytes). Extra: `batch_size` (members per request, default 500),
    `timeout_seconds` (30), and the retry settings of `DestinationClient`."""

    kind = "webhook"
    modes = frozenset({Mode.MIRROR, Mode.ADD_REMOVE, Mode.UPSERT})
    batch_size = 500
    deletes = True

    def __init__(self, conn: ConnectionInfo, run: SyncRun):
        super().__init__(conn, run)
        self.batch_size = conn.option("batch_size", type(self).batch_size, int)
        if self.batch_size < 1:
            raise DestinationError(
                f"connection {conn.conn_id!r}: extra 'batch_size' must be >= 1, got {self.batch_size}"
            )
        if not conn.password:
            raise DestinationError(
                f"connection {conn.conn_id!r}: set its password to the endpoint's signing secret (whsec_...)"
            )
        try:
            self._auth = _StandardWebhookAuth(signing_key(conn.password))
        except ValueError as exc:
            raise DestinationError(f"connection {conn.conn_id!r}: the signing secret is not valid: {exc}") from None
        self.url = conn.host.strip() if conn.host and "://" in conn.host else conn.base_url()
        self.client = DestinationClient(
            conn,
            name=f"webhook {conn.conn_id}",
            headers={"Content-Type": "application/json"},
            timeout=conn.option("timeout_seconds", 30.0, float),
        )

    def send(self, change: Change, batch: Sequence[Member]) -> Delivery:
        """One POST for the batch; a 2xx confirms every member in it."""
        return self._post(EVENT_TYPES[change], message_id(self.run, change, batch), batch)

    def delete(self, batch: Sequence[Member]) -> Delivery:
        """One `segment.members.erased` POST: the receiver forgets these people (key and identifiers)."""
        erased = [Member(key=m.key, identifiers=m.identifiers) for m in batch]
        return self._post(ERASED_EVENT, message_id(self.run, ERASED_EVENT, erased), erased)

    def _post(self, event: str, msg_id: str, batch: Sequence[Member]) -> Delivery:
        body = json.dumps(
            {
                "type": event,
                "segment": self.run.segment,
                "destination": self.run.destination,
                "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "data": [_member_json(member) for member in batch],
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        response = self.client.request("POST", self.url, content=body, headers={"webhook-id": msg_id}, auth=self._auth)
        status = response.status_code
        if 200 <= status < 300:
            log.info(
                "webhook batch delivered",
                extra={"destination": self.run.destination, "segment": self.run.segment, "type": event,
                       "members": len(batch), "webhook_id": msg_id, "status": status},
            )  # fmt: skip
            return Delivery.all_of(batch)
        call = f"webhook {self.conn.conn_id}: POST {self.url} ({event}, {len(batch)} members, webhook-id {msg_id})"
        answer = response.text[:300].strip()
        if status == 409:  # the receiver's own conflict with this content: the engine isolates the member
            raise BatchRefused(f"{call} answered HTTP 409: {answer}")
        raise DestinationError(f"{call} answered HTTP {status}{_advice(response)}: {answer}")


def _advice(response: httpx.Response) -> str:
    """What to do about a refusal that no retry fixes."""
    status = response.status_code
    if status == 410:
        return " Gone: endpoint disabled by the receiver; remove this destination or set its new URL"
    if status in (401, 403):
        return ": the receiver refused our signature; check the connection's signing secret"
    if status == 413:
        return ": the request is too large for the receiver; lower extra 'batch_size'"
    if 300 <= status < 400:
        target = response.headers.get("location", "the final URL")
        return f": redirects are not followed; set the connection's host to {target}"
    return ""
