"""The HubSpot-style CRM destination against its stand-in API on loopback: upserts, pacing, faults, refusals."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from tessera_simulator.destinations.crm_api import UPSERT_PATH, CrmStore, crm_app
from tessera_simulator.servers.runner import BackgroundServer

from connectors.connection import ConnectionInfo
from connectors.destinations.base import BatchRefused, Change, DestinationError, Member, Mode, SyncRun
from connectors.destinations.crm import CrmDestination

pytestmark = pytest.mark.integration

TOKEN = "pat-na1-test-token"
RUN = SyncRun("vip_customers", "hubspot", Mode.UPSERT, "20261129T060000Z")
PORTAL = {"firstname": "string", "lifetime_value": "number", "vip": "bool", "tessera_customer_id": "string"}
FAST_RETRIES = {"initial_wait_seconds": 0.01, "max_wait_seconds": 0.05}


@dataclass
class Crm:
    store: CrmStore
    app: FastAPI
    url: str
    opened: list[CrmDestination] = field(default_factory=list)

    def destination(self, token: str = TOKEN, **extra) -> CrmDestination:
        conn = ConnectionInfo(
            "tessera_dest_hubspot",
            "http",
            host=self.url,
            password=token,
            extra={"kind": "crm", **FAST_RETRIES, **extra},
        )
        self.opened.append(CrmDestination(conn, RUN))
        return self.opened[-1]

    def fault(self, **rule) -> None:
        httpx.post(f"{self.url}/_faults", json={"path_prefix": UPSERT_PATH, **rule}).raise_for_status()

    def requests(self) -> int:
        return httpx.get(f"{self.url}/_stats").json()["requests"].get(UPSERT_PATH, 0)


@pytest.fixture
def serve() -> Iterator[Callable[..., Crm]]:
    """Start a CRM stand-in (its rate limit given as calls per window); stopped after the test."""
    servers = []

    def start(calls_per_10s: int = 100, window_seconds: float = 10.0) -> Crm:
        store = CrmStore(PORTAL)
        app = crm_app(store, TOKEN, calls_per_10s=calls_per_10s, window_seconds=window_seconds)
        server = BackgroundServer(app, "crm-destination")
        server.start()
        servers.append((server, Crm(store, app, server.url)))
        return servers[-1][1]

    yield start
    for server, crm in servers:
        for destination in crm.opened:
            destination.close()
        server.stop()


@pytest.fixture
def crm(serve) -> Crm:
    return serve()


def member(key: str, email: str, **fields) -> Member:
    return Member(key, {"email": email}, fields)


def test_members_are_upserted_as_contacts_by_email_with_their_customer_id(crm):
    destination = crm.destination()
    added = destination.send(
        Change.ADD,
        [
            member("C1", "ada@lovelace.dev", firstname="Ada", lifetime_value=1250.5, vip=True),
            member("C2", "grace@hopper.dev", firstname="Grace", lifetime_value=80, vip=False),
        ],
    )
    assert sorted(added.confirmed) == ["C1", "C2"] and not added.rejected
    ada_id = crm.store.contacts()["ada@lovelace.dev"]["hs_object_id"]

    before = member("C1", "ada@lovelace.dev", firstname="Ada", lifetime_value=1250.5, vip=True)
    update = Member(
        "C1", {"email": "ada@lovelace.dev"}, {"firstname": None, "lifetime_value": 1300, "vip": True}, before
    )
    assert destination.send(Change.UPDATE, [update]).confirmed == ["C1"]

    contacts = crm.store.contacts()
    assert contacts["ada@lovelace.dev"] == {
        "hs_object_id": ada_id,
        "email": "ada@lovelace.dev",
        "firstname": "",
        "lifetime_value": "1300",
        "vip": "true",
        "tessera_customer_id": "C1",
    }
    assert contacts["grace@hopper.dev"] | {"hs_object_id": "-"} == {
        "hs_object_id": "-",
        "email": "grace@hopper.dev",
        "firstname": "Grace",
        "lifetime_value": "80",
        "vip": "false",
        "tessera_customer_id": "C2",
    }
    with pytest.raises(DestinationError, match="never removed"):
        destination.send(Change.REMOVE, [before])


def test_two_members_with_one_email_in_a_batch_keep_the_first_and_reject_the_second(crm):
    delivery = crm.destination().send(
        Change.ADD, [member("C1", "ada@lovelace.dev", firstname="Ada"), member("C2", "ada@lovelace.dev")]
    )
    assert delivery.confirmed == ["C1"]
    assert delivery.rejected == {"C2": "member C1 in the same batch has this e-mail address"}
    assert crm.store.contacts()["ada@lovelace.dev"]["tessera_customer_id"] == "C1"


def test_a_batch_whose_answer_is_lost_is_sent_again_and_leaves_one_contact(crm):
    crm.fault(mode="lost")
    destination = crm.destination()
    delivery = destination.send(Change.ADD, [member("C1", "ada@lovelace.dev", firstname="Ada")])
    assert delivery.confirmed == ["C1"]
    assert destination.retried == 1 and crm.requests() == 2
    assert list(crm.store.contacts()) == ["ada@lovelace.dev"]
    assert crm.store.contacts()["ada@lovelace.dev"]["hs_object_id"] == "1001"


def test_the_client_keeps_under_the_rate_limit_so_the_portal_never_answers_429(serve):
    crm = serve(calls_per_10s=2, window_seconds=1.0)
    destination = crm.destination(calls_per_10s=2, rate_window_seconds=1.0)
    started = time.monotonic()
    for i in range(3):
        assert destination.send(Change.ADD, [member(f"C{i}", f"user{i}@lovelace.dev")]).confirmed == [f"C{i}"]
    assert time.monotonic() - started >= 1.0, "the third call should have waited for the window"
    assert crm.app.state.rate_limit.refused == 0 and destination.retried == 0
    assert len(crm.store.contacts()) == 3


def test_a_client_faster_than_the_portal_gets_429s_and_waits_them_out(serve):
    """The same three calls with the client's limit far above the portal's: the portal's own limit bites."""
    crm = serve(calls_per_10s=2, window_seconds=0.5)
    destination = crm.destination(calls_per_10s=100)
    for i in range(3):
        assert destination.send(Change.ADD, [member(f"C{i}", f"user{i}@lovelace.dev")]).confirmed == [f"C{i}"]
    assert crm.app.state.rate_limit.refused >= 1 and destination.retried == crm.app.state.rate_limit.refused
    assert len(crm.store.contacts()) == 3


def test_a_storm_of_429s_is_waited_out_without_counting_as_failures(crm):
    crm.fault(status=429, retry_after=0.05, times=8)
    destination = crm.destination(max_attempts=2)
    assert destination.send(Change.ADD, [member("C1", "ada@lovelace.dev")]).confirmed == ["C1"]
    assert destination.retried == 8 and crm.requests() == 9


def test_server_errors_and_dropped_connections_are_retried(crm):
    crm.fault(status=500, times=2)
    crm.fault(mode="drop")
    destination = crm.destination()
    assert destination.send(Change.ADD, [member("C1", "ada@lovelace.dev")]).confirmed == ["C1"]
    assert destination.retried == 3
    assert list(crm.store.contacts()) == ["ada@lovelace.dev"]


def test_a_portal_that_keeps_failing_stops_the_sync_naming_destination_and_call(crm):
    crm.fault(status=503, times=50)
    with pytest.raises(DestinationError, match=f"crm tessera_dest_hubspot: POST {UPSERT_PATH} failed after 1 retries"):
        crm.destination(max_attempts=2).send(Change.ADD, [member("C1", "ada@lovelace.dev")])


def test_bad_records_refuse_the_batch_naming_their_keys_and_the_rest_goes_on_resend(crm):
    destination = crm.destination()
    batch = [
        member("C1", "ada@lovelace.dev", firstname="Ada"),
        member("C2", "grace@hopper.dev", lifetime_value="a lot"),
        member("C3", "alan@turing.dev", loyalty_tier="gold"),
        member("C4", "edsger@dijkstra", firstname="Edsger"),
    ]
    with pytest.raises(BatchRefused) as refused:
        destination.send(Change.ADD, batch)
    assert refused.value.keys == ("C2", "C3", "C4")
    assert "member C2: Property values were not valid" in str(refused.value)
    assert "a lot was not a valid number" in str(refused.value)
    assert 'Property \\"loyalty_tier\\" does not exist' in str(refused.value)
    assert "Email address e***@dijkstra is invalid" in str(refused.value)
    assert "edsger@" not in str(refused.value), "errors show e-mail addresses masked"
    assert crm.store.contacts() == {}, "a refused batch applies nothing"

    assert destination.send(Change.ADD, batch[:1]).confirmed == ["C1"]
    assert list(crm.store.contacts()) == ["ada@lovelace.dev"]


def test_a_batch_over_the_input_limit_is_refused_whole_without_naming_a_record(crm):
    """HubSpot takes 100 inputs a call; the engine never sends more, and would split a refused batch."""
    with pytest.raises(BatchRefused, match="Batch input limit exceeded: 101 inputs") as refused:
        crm.destination().send(Change.ADD, [member(f"C{i}", f"user{i}@lovelace.dev") for i in range(101)])
    assert refused.value.keys == ()
    assert crm.store.contacts() == {}


def test_a_refused_token_stops_the_sync_naming_the_destination(crm):
    with pytest.raises(DestinationError, match=r"crm tessera_dest_hubspot: .* HTTP 401 \(the access token was refused"):
        crm.destination(token="pat-na1-revoked").send(Change.ADD, [member("C1", "ada@lovelace.dev")])
    assert crm.store.contacts() == {}


def test_members_hubspot_cannot_take_are_found_before_sending():
    destination = CrmDestination(ConnectionInfo("tessera_dest_hubspot", host="http://127.0.0.1:9", password="t"), RUN)
    assert destination.invalid(member("C1", "ada@lovelace.dev", firstname="Ada", lifetime_value=3)) is None
    assert "no e-mail address" in destination.invalid(Member("C2", {"phone": "+447700900123"}))
    assert "'FirstName' is not a HubSpot property name" in destination.invalid(
        member("C3", "ada@lovelace.dev", FirstName="Ada")
    )
    assert "longer than HubSpot's 65,536 characters" in destination.invalid(
        member("C4", "ada@lovelace.dev", notes="x" * 65_537)
    )
    destination.close()
    with pytest.raises(DestinationError, match="has no password"):
        CrmDestination(ConnectionInfo("tessera_dest_hubspot", host="http://127.0.0.1:9"), RUN)


def test_the_stand_in_refuses_duplicate_ids_and_answers_429_as_hubspot_does(serve):
    crm = serve(calls_per_10s=2)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    same = {"idProperty": "email", "id": "ada@lovelace.dev", "properties": {}}
    duplicates = httpx.post(f"{crm.url}{UPSERT_PATH}", headers=auth, json={"inputs": [same, same]})
    assert duplicates.status_code == 400
    assert duplicates.json()["message"].startswith("Duplicate IDs found in batch input: ['ada@lovelace.dev']")

    assert httpx.post(f"{crm.url}{UPSERT_PATH}", headers=auth, json={"inputs": [same]}).status_code == 200
    throttled = httpx.post(f"{crm.url}{UPSERT_PATH}", headers=auth, json={"inputs": [same]})
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["Retry-After"]) <= 10
    assert throttled.json() | {"correlationId": "-"} == {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
        "correlationId": "-",
    }
