"""The Mailchimp-style email list destination against its stand-in API on loopback: subscribing, per-member
errors, static segments, archiving, changed addresses and faults."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from tessera_simulator.destinations.esp_list_api import EspListStore, esp_list_app
from tessera_simulator.servers.runner import BackgroundServer

from connectors.connection import ConnectionInfo
from connectors.destinations.base import BatchRefused, Change, DestinationError, Member, Mode, SyncRun
from connectors.destinations.esp_list import EspListDestination

pytestmark = pytest.mark.integration

API_KEY = "0123456789abcdef0123456789abcdef-us21"
LIST = "a1b2c3d4e5"
LIST_PATH = f"/3.0/lists/{LIST}"
STATIC, SAVED = 301, 302
RUN = SyncRun("newsletter_vips", "mailchimp", Mode.MIRROR, "20261129T060000Z")
FAST_RETRIES = {"initial_wait_seconds": 0.01, "max_wait_seconds": 0.05}


@dataclass
class Esp:
    store: EspListStore
    url: str
    opened: list[EspListDestination] = field(default_factory=list)

    def destination(self, password: str = API_KEY, **extra) -> EspListDestination:
        extra = {"kind": "esp_list", "list_id": LIST, **FAST_RETRIES, **extra}
        conn = ConnectionInfo("tessera_dest_mailchimp", "http", host=self.url, password=password, extra=extra)
        self.opened.append(EspListDestination(conn, RUN))
        return self.opened[-1]

    def fault(self, **rule) -> None:
        httpx.post(f"{self.url}/_faults", json=rule).raise_for_status()

    def requests(self, path: str) -> int:
        return httpx.get(f"{self.url}/_stats").json()["requests"].get(path, 0)


@pytest.fixture
def esp() -> Iterator[Esp]:
    store = EspListStore()
    store.add_list(LIST, merge_fields=("FNAME", "LNAME", "LTV"))
    store.add_segment(LIST, STATIC)
    store.add_segment(LIST, SAVED, static=False)
    server = BackgroundServer(esp_list_app(store, API_KEY), "esp-list-destination")
    server.start()
    running = Esp(store, server.url)
    yield running
    for destination in running.opened:
        destination.close()
    server.stop()


def member(key: str, email: str, previous: Member | None = None, **fields) -> Member:
    return Member(key, {"email": email}, fields, previous)


def test_adds_subscribe_new_members_and_updates_keep_an_unsubscribed_member_unsubscribed(esp):
    esp.store.add_member(LIST, "grace@hopper.dev", status="unsubscribed", FNAME="Grace")
    destination = esp.destination()
    added = destination.send(
        Change.ADD, [member("C1", "ada@lovelace.dev", FNAME="Ada", LTV=1250.5), member("C2", "grace@hopper.dev")]
    )
    assert sorted(added.confirmed) == ["C1", "C2"] and not added.rejected

    old = member("C1", "ada@lovelace.dev", FNAME="Ada", LTV=1250.5)
    updated = destination.send(Change.UPDATE, [member("C1", "ada@lovelace.dev", old, FNAME="Ada", LNAME=None, LTV=9)])
    assert updated.confirmed == ["C1"]
    assert esp.store.members(LIST) == {
        "ada@lovelace.dev": {"status": "subscribed", "merge_fields": {"FNAME": "Ada", "LNAME": "", "LTV": 9}},
        "grace@hopper.dev": {"status": "unsubscribed", "merge_fields": {"FNAME": "Grace"}},
    }


def test_members_mailchimp_refuses_are_rejected_with_its_error_and_the_rest_confirmed(esp):
    delivery = esp.destination().send(
        Change.ADD,
        [
            member("C1", "ada@lovelace.dev", FNAME="Ada"),
            member("C2", "someone@example.com", FNAME="Fake"),
            member("C3", "grace@hopper.dev", LNAME="H" * 256),  # over the limit: invalid() was not asked
        ],
    )
    assert delivery.confirmed == ["C1"]
    assert delivery.rejected == {
        "C2": "s***@example.com looks fake or invalid, please enter a real email address.",
        "C3": "Your merge fields were invalid. (LNAME: Please enter a value of at most 255 characters.)",
    }
    assert list(esp.store.members(LIST)) == ["ada@lovelace.dev"]


def test_a_static_segment_gets_members_added_and_removed_and_they_stay_on_the_list(esp):
    destination = esp.destination(segment_id=str(STATIC))
    ada, grace = member("C1", "ada@lovelace.dev", FNAME="Ada"), member("C2", "grace@hopper.dev")
    assert sorted(destination.send(Change.ADD, [ada, grace]).confirmed) == ["C1", "C2"]
    assert esp.store.segment_members(LIST, STATIC) == {"ada@lovelace.dev", "grace@hopper.dev"}

    assert destination.send(Change.REMOVE, [ada]).confirmed == ["C1"]
    assert destination.send(Change.REMOVE, [ada]).confirmed == ["C1"], "removing twice is confirmed twice"
    assert esp.store.segment_members(LIST, STATIC) == {"grace@hopper.dev"}
    assert esp.store.members(LIST)["ada@lovelace.dev"]["status"] == "subscribed"


def test_without_a_segment_a_removal_archives_the_member(esp):
    destination = esp.destination()
    ada, grace = member("C1", "ada@lovelace.dev", FNAME="Ada"), member("C2", "grace@hopper.dev")
    destination.send(Change.ADD, [ada, grace])
    never_sent = member("C3", "alan@turing.dev")
    assert destination.send(Change.REMOVE, [ada, never_sent]).confirmed == ["C1", "C3"], "404: already gone"
    assert destination.send(Change.REMOVE, [ada]).confirmed == ["C1"]
    assert {email: m["status"] for email, m in esp.store.members(LIST).items()} == {
        "ada@lovelace.dev": "archived",
        "grace@hopper.dev": "subscribed",
    }


def test_a_changed_email_archives_the_old_address_and_subscribes_the_new_one(esp):
    destination = esp.destination()
    old = member("C1", "ada@lovelace.dev", FNAME="Ada")
    destination.send(Change.ADD, [old])
    assert destination.send(Change.UPDATE, [member("C1", "ada@analytical.dev", old, FNAME="Ada")]).confirmed == ["C1"]
    assert esp.store.members(LIST) == {
        "ada@lovelace.dev": {"status": "archived", "merge_fields": {"FNAME": "Ada"}},
        "ada@analytical.dev": {"status": "subscribed", "merge_fields": {"FNAME": "Ada"}},
    }


def test_a_changed_email_moves_the_member_in_the_static_segment(esp):
    destination = esp.destination(segment_id=STATIC)
    old = member("C1", "ada@lovelace.dev", FNAME="Ada")
    destination.send(Change.ADD, [old])
    assert destination.send(Change.UPDATE, [member("C1", "ada@analytical.dev", old)]).confirmed == ["C1"]
    assert esp.store.segment_members(LIST, STATIC) == {"ada@analytical.dev"}
    assert set(esp.store.members(LIST)) == {"ada@lovelace.dev", "ada@analytical.dev"}


def test_calls_whose_answers_are_lost_are_sent_again_and_change_nothing_more(esp):
    destination = esp.destination(segment_id=STATIC)
    ada, grace = member("C1", "ada@lovelace.dev", FNAME="Ada"), member("C2", "grace@hopper.dev")
    destination.send(Change.ADD, [ada])  # checks the list and segment before the faults are queued
    esp.fault(path_prefix=LIST_PATH, mode="lost")  # the batch subscribe
    esp.fault(path_prefix=f"{LIST_PATH}/segments/{STATIC}", mode="lost")  # the segment add
    assert destination.send(Change.ADD, [grace]).confirmed == ["C2"]
    # each path: the first send's check and call, then the lost call and its resend
    assert esp.requests(LIST_PATH) == 4 and esp.requests(f"{LIST_PATH}/segments/{STATIC}") == 4
    assert esp.store.segment_members(LIST, STATIC) == {"ada@lovelace.dev", "grace@hopper.dev"}

    archive = esp.destination()
    esp.fault(path_prefix=f"{LIST_PATH}/members/", mode="lost")
    assert archive.send(Change.REMOVE, [ada]).confirmed == ["C1"]
    assert esp.store.members(LIST)["ada@lovelace.dev"]["status"] == "archived"
    assert destination.retried + archive.retried == 3


def test_throttling_server_errors_and_dropped_connections_are_retried(esp):
    esp.fault(path_prefix=LIST_PATH, after=1, status=429, retry_after=0.05, times=3)  # after the list check
    esp.fault(path_prefix=LIST_PATH, status=503, times=2)
    esp.fault(path_prefix=LIST_PATH, mode="drop")
    destination = esp.destination(max_attempts=4)
    assert destination.send(Change.ADD, [member("C1", "ada@lovelace.dev")]).confirmed == ["C1"]
    assert destination.retried == 6
    assert list(esp.store.members(LIST)) == ["ada@lovelace.dev"]


def test_a_batch_over_500_members_is_refused_whole(esp):
    """Mailchimp takes 500 members a call; the engine never sends more, and would split a refused batch."""
    batch = [member(f"C{i}", f"user{i}@lovelace.dev") for i in range(501)]
    with pytest.raises(BatchRefused, match="Invalid Resource.*maximum 500 items, 501 found") as refused:
        esp.destination().send(Change.ADD, batch)
    assert refused.value.keys == ()
    assert esp.store.members(LIST) == {}


def test_a_refused_key_a_missing_list_and_a_saved_segment_stop_the_sync_naming_the_destination(esp):
    ada = member("C1", "ada@lovelace.dev")
    with pytest.raises(DestinationError, match=r"esp_list tessera_dest_mailchimp: GET .* HTTP 401 \(the API key"):
        esp.destination(password="revoked-us21").send(Change.ADD, [ada])
    with pytest.raises(DestinationError, match=r"GET /3.0/lists/nope answered HTTP 404 \(check extra list_id 'nope'"):
        esp.destination(list_id="nope").send(Change.ADD, [ada])
    with pytest.raises(DestinationError, match=f"segment {SAVED} of list {LIST} is a saved segment"):
        esp.destination(segment_id=SAVED).send(Change.ADD, [ada])
    assert esp.store.members(LIST) == {}


def test_members_mailchimp_cannot_take_are_found_before_sending():
    conn = ConnectionInfo("tessera_dest_mailchimp", host="http://127.0.0.1:9", password="k", extra={"list_id": LIST})
    destination = EspListDestination(conn, RUN)
    assert destination.invalid(member("C1", "ada@lovelace.dev", FNAME="Ada", LTV=3, VIP=True)) is None
    assert "no e-mail address" in destination.invalid(Member("C2", {"phone": "+447700900123"}))
    assert "'fname' is not a Mailchimp merge tag" in destination.invalid(member("C3", "ada@lovelace.dev", fname="A"))
    assert "'LIFETIMEVALUE' is not a Mailchimp merge tag" in destination.invalid(
        member("C4", "ada@lovelace.dev", LIFETIMEVALUE=3)
    )
    assert "longer than Mailchimp's 255 characters" in destination.invalid(member("C5", "a@b.dev", NOTES="x" * 256))
    destination.close()
    with pytest.raises(DestinationError, match="extra 'list_id' is required"):
        EspListDestination(ConnectionInfo("tessera_dest_mailchimp", host="http://127.0.0.1:9", password="k"), RUN)


def test_the_stand_in_refuses_known_members_without_update_existing_and_calls_without_a_key(esp):
    esp.store.add_member(LIST, "ada@lovelace.dev", FNAME="Ada")
    body = {"members": [{"email_address": "ada@lovelace.dev", "status_if_new": "subscribed"}]}
    answer = httpx.post(f"{esp.url}{LIST_PATH}", auth=("tessera", API_KEY), json=body).json()
    assert answer["errors"] == [
        {
            "email_address": "ada@lovelace.dev",
            "error": "ada@lovelace.dev is already a list member. Use PUT to insert or update list members.",
            "error_code": "ERROR_CONTACT_EXISTS",
        }
    ]
    assert answer["total_updated"] == 0 and answer["error_count"] == 1

    anonymous = httpx.post(f"{esp.url}{LIST_PATH}", json=body)
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.json()["title"] == "API Key Missing"
