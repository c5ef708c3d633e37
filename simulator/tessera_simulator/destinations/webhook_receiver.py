"""A webhook receiver that checks Standard Webhooks signatures and keeps each segment's members.

It behaves as a careful consumer of https://www.standardwebhooks.com/ does: it refuses a missing or bad
signature (401) and a `webhook-timestamp` more than five minutes from now (400, against replays), treats
`webhook-id` as an idempotency key (a repeated id is acknowledged with 200 and not applied again), and
applies `segment.members.added|updated|removed` events to a membership view per segment that tests
read as plain Python data. `segment.members.erased` removes people as `removed` does and records only
that an erasure came (`erasures`), since a receiver must not keep what it was asked to forget. Verification is written here from the spec, not shared with the sender, so
the two check each other. `/_faults` and `/_stats` inject faults as in the API stand-ins.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tessera_simulator.servers.api_errors import ApiError, install_error_handlers
from tessera_simulator.servers.faults import FaultInjector, FaultMiddleware

WEBHOOK_PATH = "/hooks/segments"
TOLERANCE_SECONDS = 5 * 60
EVENT_TYPES = (
    "segment.members.added",
    "segment.members.updated",
    "segment.members.removed",
    "segment.members.erased",
)


class WebhookStore:
    """What the receiver accepted, shared between server threads and the test reading it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[str, dict[str, dict[str, Any]]] = {}
        self._deliveries: list[dict[str, Any]] = []
        self._applied: set[str] = set()
        self._duplicates: list[str] = []
        self._erasures: list[dict[str, Any]] = []

    def apply(self, message_id: str, event: dict[str, Any]) -> bool:
        """Apply a verified event once; False (and nothing changes) when its id was already applied."""
        with self._lock:
            if message_id in self._applied:
                self._duplicates.append(message_id)
                return False
            self._applied.add(message_id)
            members = self._members.setdefault(event["segment"], {})
            for item in event["data"]:
                if event["type"] in ("segment.members.removed", "segment.members.erased"):
                    members.pop(item["customer_id"], None)
                else:
                    members[item["customer_id"]] = {"identifiers": item["identifiers"], "fields": item["fields"]}
            self._deliveries.append(
                {"id": message_id, "type": event["type"], "segment": event["segment"], "size": len(event["data"])}
            )
            if event["type"] == "segment.members.erased":
                self._erasures.append({"id": message_id, "segment": event["segment"], "people": len(event["data"])})
            return True

    def erasures(self) -> list[dict[str, Any]]:
        """Each erasure event applied: id, segment and how many people (never who)."""
        with self._lock:
            return copy.deepcopy(self._erasures)

    def members(self, segment: str) -> dict[str, dict[str, Any]]:
        """customer_id -> {"identifiers", "fields"} for the segment's current members."""
        with self._lock:
            return copy.deepcopy(self._members.get(segment, {}))

    def deliveries(self) -> list[dict[str, Any]]:
        """Every accepted message in arrival order: id, type, segment and number of members."""
        with self._lock:
            return copy.deepcopy(self._deliveries)

    @property
    def duplicates(self) -> list[str]:
        """Ids received again after they were applied, one entry per repeat."""
        with self._lock:
            return list(self._duplicates)


def _key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_") + "==")
        except binascii.Error:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    return secret.encode()


def _verify(key: bytes, headers: Any, body: bytes) -> str:
    """The message id of a request whose signature and timestamp check out, else an ApiError."""
    missing = [h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if not headers.get(h)]
    if missing:
        raise ApiError(400, f"missing header(s): {', '.join(missing)}")
    message_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if not stamp.isdigit():
        raise ApiError(400, f"webhook-timestamp must be integer unix seconds, got {stamp!r}")
    drift = int(stamp) - time.time()
    if abs(drift) > TOLERANCE_SECONDS:
        raise ApiError(400, f"webhook-timestamp is {abs(drift):.0f}s too {'new' if drift > 0 else 'old'}")
    expected = hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    for signature in headers["webhook-signature"].split():
        version, _, value = signature.partition(",")
        try:
            candidate = base64.b64decode(value, validate=True)
        except binascii.Error:
            continue
        if version == "v1" and hmac.compare_digest(candidate, expected):
            return message_id
    raise ApiError(401, "no valid v1 signature for this webhook-id, timestamp and body")


def _event(body: bytes) -> dict[str, Any]:
    """The event in a verified body, checked against the payload contract, else a 400."""
    try:
        event = json.loads(body)
    except ValueError:
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(event, dict) or event.get("type") not in EVENT_TYPES:
        raise ApiError(400, f"type must be one of {', '.join(EVENT_TYPES)}")
    if not isinstance(event.get("segment"), str) or not event["segment"]:
        raise ApiError(400, "segment must be a non-empty string")
    if not isinstance(event.get("data"), list):
        raise ApiError(400, "data must be a list of members")
    for i, item in enumerate(event["data"]):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("customer_id"), str)
            and isinstance(item.get("identifiers"), dict)
            and isinstance(item.get("fields"), dict)
        ):
            raise ApiError(400, f"data[{i}] must have customer_id (string), identifiers and fields (objects)")
    return event


def webhook_receiver_app(store: WebhookStore, secret: str, max_body_bytes: int = 5 * 2**20) -> FastAPI:
    """`POST /hooks/segments` verifying `secret` (`whsec_<base64>` or raw) into `store`, plus `/_faults`."""
    key = _key(secret)
    app = FastAPI(title="Webhook receiver stand-in", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    app.state.store = store
    app.state.faults = FaultInjector()
    app.add_middleware(FaultMiddleware, injector=app.state.faults)

    @app.post(WEBHOOK_PATH)
    async def receive(request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise ApiError(415, "send the event as application/json")
        body = await request.body()
        if len(body) > max_body_bytes:
            raise ApiError(413, f"the body is {len(body)} bytes; this endpoint takes at most {max_body_bytes}")
        message_id = _verify(key, request.headers, body)
        applied = store.apply(message_id, _event(body))
        return JSONResponse({"id": message_id, "applied": applied})

    return app
