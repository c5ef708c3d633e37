"""The webhook destination against the stand-in receiver over loopback, faults included."""

from __future__ import annotations

import base64
import json
import re
import time

import httpx
import pytest
from tessera_simulator.destinations.webhook_receiver import WEBHOOK_PATH, WebhookStore, webhook_receiver_app
from tessera_simulator.servers.runner import BackgroundServer

from connectors.connection import ConnectionInfo
from connectors.destinations.base import BatchRefused, Change, DestinationError, Member, Mode, SyncRun
from connectors.destinations.webhook import WebhookDestination, message_id, sign, signing_key

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"tessera-webhook-test-secret-0001").decode()
RUN = SyncRun(segment="vip_customers", destination="ops_hook", mode=Mode.MIRROR, run_id="20261129T060000Z")
FAST_RETRIES = {"max_attempts": 3, "initial_wait_seconds": 0.01, "max_wait_seconds": 0.05}
ADA = Member("c1", {"email": "ada@example.com"}, {"tier": "gold", "orders": 12})
BOB = Member("c2", {"phone": "+447700900123"}, {"tier": "silver", "orders": 3})
CY = Member("c3", {"email": "cy@example.com", "phone": "+14155550100"}, {"tier": "gold", "orders": 7})


class Receiver:
    """A running receiver, its store, and a way to queue faults."""

    def __init__(self, secret: str, **options):
        self.store = WebhookStore()
        self.server = BackgroundServer(webhook_receiver_app(self.store, secret, **options), "webhook-receiver")
        self.server.start()
        self.url = self.server.url + WEBHOOK_PATH

    def fault(self, **rule) -> None:
        httpx.post(f"{self.server.url}/_faults", json={"path_prefix": WEBHOOK_PATH, **rule}).raise_for_status()


@pytest.fixture
def receiver():
    receiver = Receiver(SECRET)
    yield receiver
    receiver.server.stop()


@pytest.fixture
def destination():
    """Makes connectors to a URL (fast retries) and closes them after the test."""
    opened: list[WebhookDestination] = []

    def make(url: str, secret: str = SECRET, run: SyncRun = RUN, **extra) -> WebhookDestination:
        extra = {"kind": "webhook", **FAST_RETRIES, **extra}
        opened.append(
            WebhookDestination(ConnectionInfo("tessera_dest_ops_hook", "http", url, password=secret, extra=extra), run)
        )
        return opened[-1]

    yield make
    for dest in opened:
        dest.close()


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(signing_key(secret), msg_id, timestamp, body),
    }


def test_signing_matches_the_standard_webhooks_test_vector():
    """The vector of the spec's reference library (libraries/python/tests/test_webhooks.py)."""
    key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_added_updated_and_removed_events_apply_to_the_receivers_membership(receiver, destination):
    dest = destination(receiver.url)
    assert dest.send(Change.ADD, [ADA, BOB, CY]).confirmed == ["c1", "c2", "c3"]
    moved = Member("c2", BOB.identifiers, {"tier": "gold", "orders": 4}, previous=BOB)
    assert dest.send(Change.UPDATE, [moved]).confirmed == ["c2"]
    assert dest.send(Change.REMOVE, [CY]).confirmed == ["c3"]

    assert receiver.store.members("vip_customers") == {
        "c1": {"identifiers": {"email": "ada@example.com"}, "fields": {"tier": "gold", "orders": 12}},
        "c2": {"identifiers": {"phone": "+447700900123"}, "fields": {"tier": "gold", "orders": 4}},
    }
    deliveries = receiver.store.deliveries()
    assert [(d["type"], d["size"]) for d in deliveries] == [
        ("segment.members.added", 3),
        ("segment.members.updated", 1),
        ("segment.members.removed", 1),
    ]
    assert [d["id"] for d in deliveries] == [
        message_id(RUN, Change.ADD, [ADA, BOB, CY]),
        message_id(RUN, Change.UPDATE, [moved]),
        message_id(RUN, Change.REMOVE, [CY]),
    ]
    assert receiver.store.duplicates == [] and dest.retried == 0


@pytest.mark.parametrize("secret", [SECRET, "a raw shared secret"], ids=["whsec", "raw"])
def test_a_receiver_with_the_same_secret_verifies_and_a_wrong_secret_is_refused(secret, destination):
    receiver = Receiver(secret)
    try:
        assert destination(receiver.url, secret=secret).send(Change.ADD, [ADA]).confirmed == ["c1"]
        with pytest.raises(DestinationError, match=rf"POST {re.escape(receiver.url)} .* HTTP 401: .*signing secret"):
            destination(receiver.url, secret="whsec_" + base64.b64encode(b"another secret").decode()).send(
                Change.ADD, [BOB]
            )
    finally:
        receiver.server.stop()
    assert set(receiver.store.members("vip_customers")) == {"c1"}


def test_a_lost_answer_is_resent_with_the_same_id_and_applied_once(receiver, destination):
    """The receiver applies the batch, the answer is cut; the retry and a later run repeat the same id."""
    receiver.fault(mode="lost")
    dest = destination(receiver.url)
    assert dest.send(Change.ADD, [ADA, BOB]).confirmed == ["c1", "c2"]
    assert dest.retried == 1

    next_run = SyncRun(RUN.segment, RUN.destination, RUN.mode, run_id="20261130T060000Z")
    assert destination(receiver.url, run=next_run).send(Change.ADD, [BOB, ADA]).confirmed == ["c2", "c1"]

    (delivery,) = receiver.store.deliveries()
    assert receiver.store.duplicates == [delivery["id"], delivery["id"]]
    assert set(receiver.store.members("vip_customers")) == {"c1", "c2"}


def test_429_500_and_dropped_connections_are_retried_and_applied_once(receiver, destination):
    receiver.fault(mode="status", status=429, retry_after=0)
    receiver.fault(mode="status", status=500)
    receiver.fault(mode="drop")
    dest = destination(receiver.url)
    assert dest.send(Change.ADD, [ADA, CY]).confirmed == ["c1", "c3"]
    assert dest.retried == 3
    assert [d["size"] for d in receiver.store.deliveries()] == [2]
    assert receiver.store.duplicates == []
    assert set(receiver.store.members("vip_customers")) == {"c1", "c3"}


def test_a_receiver_that_keeps_failing_fails_the_sync_after_the_retries(receiver, destination):
    receiver.fault(mode="status", status=503, times=10)
    dest = destination(receiver.url)
    with pytest.raises(
        DestinationError, match=rf"webhook tessera_dest_ops_hook: POST {re.escape(receiver.url)} .*HTTP 503"
    ):
        dest.send(Change.ADD, [ADA])
    assert dest.retried == 2 and receiver.store.deliveries() == []


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (410, DestinationError, "HTTP 410 Gone: endpoint disabled"),
        (400, DestinationError, "HTTP 400: .*injected fault"),
        (409, BatchRefused, "HTTP 409: .*injected fault"),
    ],
)
def test_a_refusal_names_the_endpoint_and_the_batch(receiver, status, error, message, destination):
    receiver.fault(mode="status", status=status)
    batch = rf"\(segment\.members\.removed, 1 members, webhook-id {message_id(RUN, Change.REMOVE, [ADA])}\)"
    with pytest.raises(error, match=rf"POST {re.escape(receiver.url)} {batch} answered {message}"):
        destination(receiver.url).send(Change.REMOVE, [ADA])
    assert receiver.store.deliveries() == []


def test_a_body_over_the_receivers_limit_says_to_lower_the_batch_size(destination):
    receiver = Receiver(SECRET, max_body_bytes=300)
    try:
        dest = destination(receiver.url, batch_size=2)
        assert dest.batch_size == 2
        with pytest.raises(DestinationError, match=r"HTTP 413: the request is too large .*lower extra 'batch_size'"):
            dest.send(Change.ADD, [ADA, BOB])
        assert dest.send(Change.ADD, [ADA]).confirmed == ["c1"]
    finally:
        receiver.server.stop()


def test_the_receiver_refuses_stale_unsigned_and_malformed_requests(receiver):
    """The receiver's side of the contract, spoken to directly."""
    body = json.dumps({"type": "segment.members.added", "segment": "s", "data": []}).encode()
    now = int(time.time())
    post = lambda headers, content=body: httpx.post(receiver.url, content=content, headers=headers)  # noqa: E731

    stale = post(signed_headers(SECRET, "msg_stale", now - 310, body))
    assert stale.status_code == 400 and re.fullmatch(r"webhook-timestamp is 31\ds too old", stale.json()["message"])
    assert post(signed_headers(SECRET, "msg_future", now + 310, body)).status_code == 400
    assert post(signed_headers(SECRET, "msg_late", now - 290, body)).json() == {"id": "msg_late", "applied": True}
    unsigned = post({"content-type": "application/json", "webhook-id": "msg_x", "webhook-timestamp": str(now)})
    assert (unsigned.status_code, unsigned.json()["message"]) == (400, "missing header(s): webhook-signature")
    tampered = signed_headers(SECRET, "msg_tampered", now, body)
    assert post(tampered, body.replace(b'"s"', b'"t"')).status_code == 401
    bad_event = b'{"type": "segment.members.added", "segment": "s", "data": [{"customer_id": 1}]}'
    assert post(signed_headers(SECRET, "msg_bad", now, bad_event), bad_event).status_code == 400
    rotated = signed_headers(SECRET, "msg_ok", now, body)
    rotated["webhook-signature"] = "v1,c29tZSBvbGQga2V5IHNpZ25hdHVyZQ== " + rotated["webhook-signature"]
    assert post(rotated).json() == {"id": "msg_ok", "applied": True}
    assert post(rotated).json() == {"id": "msg_ok", "applied": False}
    assert [d["id"] for d in receiver.store.deliveries()] == ["msg_late", "msg_ok"]
    assert receiver.store.duplicates == ["msg_ok"]
