"""The ad-audience connector against the stand-in audience API over loopback, faults included."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tessera_simulator.destinations.ad_audience_api import AudienceStore, ad_audience_app
from tessera_simulator.servers.runner import BackgroundServer

from connectors.connection import ConnectionInfo
from connectors.destinations.ad_audience import AdAudienceDestination
from connectors.destinations.base import BatchRefused, Change, DestinationError, Member, Mode, SyncRun
from connectors.destinations.hashing import PLATFORMS, hashed, hashed_rows
from connectors.destinations.registry import destination_class

pytestmark = pytest.mark.integration

TOKEN = "audience-token"
AUDIENCE = "23851234567890"
RUN = SyncRun(segment="lapsed_vips", destination="meta_lapsed", mode=Mode.ADD_REMOVE, run_id="20261129T060000Z")
FAST = {"initial_wait_seconds": 0.01, "max_wait_seconds": 0.05}

# Known SHA-256 vectors, computed outside this code (`printf %s VALUE | sha256sum`).
TEST_EMAIL = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"  # test@example.com
PHONE_DIGITS = "6069d14bf122fdfd931dc7beb58e5dfbba395b1faf05bdcd42d12358d63d8599"  # 16505551234
PHONE_PLUS = "a2996076d3ad4af5dc818b908b3d8e354f26ededf7df0e0aa6ac354143805ee0"  # +16505551234
GMAIL_AS_TYPED = "b678c9794a2b91a080d1c7d114d8b08333ee3dfd616eb43f22ad24f642e2edb2"  # john.doe+ads@gmail.com
GMAIL_CANONICAL = "06a240d11cc201676da976f7b49341181fd180da37cbe40a77432c0a366c80c3"  # johndoe@gmail.com


class Api:
    """A running stand-in and the connectors that reach it."""

    def __init__(self, store: AudienceStore, url: str):
        self.store, self.url = store, url

    def connector(self, password: str = TOKEN, **extra) -> AdAudienceDestination:
        options = {"kind": "ad_audience", "audience_id": AUDIENCE, **FAST, **extra}
        conn = ConnectionInfo(
            "tessera_dest_meta_lapsed", "http", host=f"{self.url}/v21.0", password=password, extra=options
        )
        return destination_class("ad_audience")(conn, RUN)

    def fault(self, **rule) -> None:
        httpx.post(f"{self.url}/_faults", json={"path_prefix": f"/v21.0/{AUDIENCE}/users", **rule}).raise_for_status()

    def faults_served(self) -> int:
        return httpx.get(f"{self.url}/_stats").json()["faults_served"]

    def members(self) -> set[frozenset[tuple[str, str]]]:
        return self.store.members(AUDIENCE)


def serve(store: AudienceStore) -> Iterator[Api]:
    store.create(AUDIENCE)
    server = BackgroundServer(ad_audience_app(store, TOKEN), "ad-audience")
    server.start()
    try:
        yield Api(store, server.url)
    finally:
        server.stop()


@pytest.fixture
def api() -> Iterator[Api]:
    yield from serve(AudienceStore())


@pytest.fixture
def throttled_api() -> Iterator[Api]:
    yield from serve(AudienceStore(rate_limit=(1, 0.5)))


def person(key: str, email: str | None = None, phone: str | None = None, previous: Member | None = None) -> Member:
    ids = {name: value for name, value in (("email", email), ("phone", phone)) if value}
    return Member(key=key, identifiers=ids, previous=previous)


def row(email: str | None = None, phone: str | None = None, platform: str = "meta") -> frozenset:
    """A member as the audience holds it."""
    pairs = [
        ("EMAIL", hashed(platform, "email", email)) if email else None,
        ("PHONE", hashed(platform, "phone", phone)) if phone else None,
    ]
    return frozenset(pair for pair in pairs if pair)


def people(n: int) -> list[Member]:
    return [person(f"c{i:05d}", email=f"customer{i}@example.com") for i in range(n)]


# --- hashing rules -----------------------------------------------------------------------------------------


def test_hashes_match_known_sha256_vectors_and_each_platforms_phone_rule():
    assert hashed("meta", "email", "test@example.com") == TEST_EMAIL
    assert hashed("meta", "email", "  Test@Example.COM\n") == TEST_EMAIL, "trimmed and lower-cased"
    assert hashed("meta", "phone", "+16505551234") == PHONE_DIGITS, "Meta hashes the digits without '+'"
    assert hashed("google", "phone", "+16505551234") == PHONE_PLUS, "Google keeps the '+'"
    assert hashed("google", "email", "Test@Example.com") == TEST_EMAIL
    assert hashed("meta", "email", "John.Doe+ads@gmail.com") == GMAIL_AS_TYPED, "Gmail dots and tags are kept"
    assert GMAIL_AS_TYPED != GMAIL_CANONICAL
    assert {platform: {k: v[0] for k, v in rules.items()} for platform, rules in PLATFORMS.items()} == {
        "meta": {"email": "EMAIL", "phone": "PHONE"},
        "google": {"email": "EMAIL", "phone": "PHONE"},
    }


def test_hashing_refuses_what_would_never_match_without_echoing_the_number():
    with pytest.raises(ValueError, match="E.164") as refused:
        hashed("meta", "phone", "06505551234")
    assert "6505551234" not in str(refused.value)
    with pytest.raises(ValueError, match="unknown ad platform 'tiktok'; platforms: google, meta"):
        hashed("tiktok", "email", "test@example.com")
    with pytest.raises(ValueError, match="meta does not match on 'madid'"):
        hashed("meta", "madid", "abc")


def test_a_batch_uses_only_the_identifiers_present_and_leaves_missing_ones_empty():
    assert hashed_rows("meta", [{"email": "test@example.com"}]) == (["EMAIL"], [[TEST_EMAIL]])
    assert hashed_rows("meta", [{"phone": "+16505551234"}, {"email": "test@example.com"}]) == (
        ["EMAIL", "PHONE"],
        [["", PHONE_DIGITS], [TEST_EMAIL, ""]],
    )


# --- the connector against the API ---------------------------------------------------------------------------


def test_members_are_added_then_removed_by_their_hashed_rows(api):
    dest = api.connector()
    batch = [
        person("a", email="Ann@Example.com"),
        person("b", phone="+16505551234"),
        person("c", email="test@example.com", phone="+447700900123"),
    ]
    assert dest.send(Change.ADD, batch).confirmed == ["a", "b", "c"]
    assert api.members() == {
        frozenset({("EMAIL", hashed("meta", "email", "ann@example.com"))}),
        frozenset({("PHONE", PHONE_DIGITS)}),
        frozenset({("EMAIL", TEST_EMAIL), ("PHONE", hashed("meta", "phone", "+447700900123"))}),
    }
    removed = dest.send(Change.REMOVE, [batch[0], batch[2]])
    assert removed.confirmed == ["a", "c"] and not removed.rejected
    assert api.members() == {frozenset({("PHONE", PHONE_DIGITS)})}
    assert api.store.stats()["rows_received"] == {"POST": 3, "DELETE": 2}
    dest.close()


def test_an_update_replaces_changed_identifiers_and_sends_nothing_for_unchanged_ones(api):
    dest = api.connector()
    old_a, old_b = person("a", email="old@example.com"), person("b", email="same@example.com", phone="+16505551234")
    dest.send(Change.ADD, [old_a, old_b])
    moved = person("a", email="new@example.com", phone="+16505550000", previous=old_a)
    same = person("b", email=" SAME@example.com", phone="+16505551234", previous=old_b)
    assert dest.send(Change.UPDATE, [moved, same]).confirmed == ["a", "b"]
    assert api.members() == {row("new@example.com", "+16505550000"), row("same@example.com", "+16505551234")}
    assert api.store.stats()["rows_received"] == {"POST": 3, "DELETE": 1}, "only the changed member was sent"
    assert dest.send(Change.UPDATE, [same]).confirmed == ["b"]
    assert api.store.stats()["requests"] == {"POST": 2, "DELETE": 1}


def test_the_google_rules_keep_the_plus_of_a_phone_number(api):
    dest = api.connector(platform="google")
    dest.send(Change.ADD, [person("a", phone="+16505551234")])
    assert api.members() == {frozenset({("PHONE", PHONE_PLUS)})}


def test_a_full_batch_is_taken_and_one_row_more_is_refused_with_the_apis_message(api):
    dest = api.connector()
    assert dest.batch_size == 10_000
    assert len(dest.send(Change.ADD, people(10_000)).confirmed) == 10_000
    with pytest.raises(
        DestinationError,
        match=r"POST /23851234567890/users refused a batch of 10001 members.*"
        r"HTTP 400.*Too many rows: 10001 sent, at most 10000",
    ):
        dest.send(Change.ADD, people(10_001))
    assert api.store.size(AUDIENCE) == 10_000


def test_members_without_anything_to_match_on_are_refused_before_sending(api):
    dest = api.connector()
    assert dest.invalid(Member(key="x", fields={"tier": "gold"})) == "no e-mail or phone to match on"
    assert (
        dest.invalid(person("y", phone="0650555"))
        == "phone: the phone number is not in E.164 form ('+' and up to 15 digits)"
    )
    assert dest.invalid(person("z", email="test@example.com")) is None


def test_an_invalid_entry_is_rejected_with_the_apis_reason_and_the_rest_confirmed(api):
    api.store.refuse(TEST_EMAIL, "This e-mail is on the advertiser's block list")
    delivery = api.connector().send(
        Change.ADD, [person("a", email="test@example.com"), person("b", email="b@example.com")]
    )
    assert delivery.confirmed == ["b"]
    assert delivery.rejected == {"a": "This e-mail is on the advertiser's block list"}
    assert api.members() == {row("b@example.com")}


def test_when_the_sample_names_only_some_invalid_entries_the_batch_is_refused_naming_those(api):
    batch = people(102)
    for member in batch[:101]:
        api.store.refuse(hashed("meta", "email", member.identifiers["email"]), "blocked")
    with pytest.raises(BatchRefused, match="101 of 102 rows were invalid and the answer named 100") as refused:
        api.connector().send(Change.ADD, batch)
    assert refused.value.keys == tuple(m.key for m in batch[:100])
    assert api.members() == {row(batch[101].identifiers["email"])}, "the valid row was applied all the same"


def test_a_429_is_waited_out_and_the_batch_confirmed(api):
    api.fault(status=429, retry_after=0.05, times=2)
    dest = api.connector()
    assert dest.send(Change.ADD, [person("a", email="test@example.com")]).confirmed == ["a"]
    assert (dest.retried, api.faults_served()) == (2, 2)
    assert api.members() == {row("test@example.com")}


def test_the_apis_own_rate_limit_is_waited_out(throttled_api):
    dest = throttled_api.connector()
    for key in ("a", "b"):
        assert dest.send(Change.ADD, [person(key, email=f"{key}@example.com")]).confirmed == [key]
    assert dest.retried == 1, "the second call came within the window and was answered 429 once"
    assert throttled_api.members() == {row("a@example.com"), row("b@example.com")}


def test_server_errors_and_a_dropped_connection_are_retried(api):
    api.fault(status=500, times=2)
    api.fault(mode="drop")
    dest = api.connector()
    assert dest.send(Change.ADD, [person("a", email="test@example.com")]).confirmed == ["a"]
    assert (dest.retried, api.faults_served()) == (3, 3)
    assert api.members() == {row("test@example.com")}
    assert api.store.stats()["requests"] == {"POST": 1}, "a dropped request was never applied"


def test_lost_answers_are_resent_and_the_audience_holds_each_member_once(api):
    dest = api.connector()
    batch = [person("a", email="test@example.com"), person("b", phone="+16505551234")]
    api.fault(mode="lost")
    assert dest.send(Change.ADD, batch).confirmed == ["a", "b"]
    assert api.members() == {row("test@example.com"), row(phone="+16505551234")}
    api.fault(mode="lost")
    assert dest.send(Change.REMOVE, batch[:1]).confirmed == ["a"]
    assert api.members() == {row(phone="+16505551234")}
    assert api.store.stats()["requests"] == {"POST": 2, "DELETE": 2}, "each call was applied twice"
    assert dest.retried == 2


def test_a_refused_token_stops_the_sync_naming_the_audience(api):
    with pytest.raises(
        DestinationError,
        match=r"meta_lapsed \(ad_audience\): POST /23851234567890/users: the access "
        r"token was refused for audience 23851234567890 \(HTTP 401: Invalid "
        r"OAuth access token.*'tessera_dest_meta_lapsed'",
    ):
        api.connector(password="expired").send(Change.ADD, [person("a", email="test@example.com")])
    assert api.members() == set()


def test_an_unknown_audience_stops_the_sync(api):
    with pytest.raises(
        DestinationError,
        match=r"audience 999 was not found \(HTTP 404: Unsupported delete request\. "
        r"Object with ID '999' does not exist",
    ):
        api.connector(audience_id="999").send(Change.REMOVE, [person("a", email="test@example.com")])


def test_retries_running_out_stop_the_sync(api):
    api.fault(status=503, times=50)
    with pytest.raises(DestinationError, match=r"POST /23851234567890/users failed after 1 retries: HTTP 503"):
        api.connector(max_attempts=2).send(Change.ADD, [person("a", email="test@example.com")])
    assert api.members() == set()


def test_a_misconfigured_connection_is_refused_naming_connection_and_key(api):
    with pytest.raises(DestinationError, match="'tessera_dest_meta_lapsed' has no extra 'audience_id'"):
        api.connector(audience_id=" ")
    with pytest.raises(DestinationError, match="extra 'platform' is 'tiktok'; use one of google, meta"):
        api.connector(platform="tiktok")
    with pytest.raises(DestinationError, match="has no access token"):
        api.connector(password="")


# --- the stand-in's wire contract, spoken to directly ---------------------------------------------------------


def test_the_api_checks_each_row_and_refuses_unreadable_requests_whole(api):
    def call(payload, method="POST", token=TOKEN) -> httpx.Response:
        return httpx.request(
            method,
            f"{api.url}/v21.0/{AUDIENCE}/users",
            json={"payload": payload},
            headers={"Authorization": f"Bearer {token}"},
        )

    answer = call(
        {
            "schema": ["EMAIL", "PHONE"],
            "data": [[TEST_EMAIL, ""], ["test@example.com", PHONE_DIGITS], [TEST_EMAIL.upper(), ""], ["", ""]],
        }
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "audience_id": AUDIENCE,
        "session_id": "1",
        "num_received": 4,
        "num_invalid_entries": 3,
        "invalid_entry_samples": {
            "test@example.com": "Invalid EMAIL value: expected a SHA-256 hash, 64 lower-case hex characters",
            TEST_EMAIL.upper(): "Invalid EMAIL value: expected a SHA-256 hash, 64 lower-case hex characters",
            "": "The row has no value for any key of the schema",
        },
    }
    assert api.members() == {frozenset({("EMAIL", TEST_EMAIL)})}
    for payload, message in (
        ({"schema": ["EMAIL", "MADID"], "data": [[TEST_EMAIL, "x"]]}, "(#100) Invalid schema key(s) 'MADID'"),
        ({"schema": ["EMAIL"], "data": [[TEST_EMAIL], [TEST_EMAIL, PHONE_DIGITS]]}, "(#100) payload.data[1] must be"),
        ({"schema": ["EMAIL"], "data": [[TEST_EMAIL]] * 10_001}, "(#100) Too many rows: 10001 sent"),
    ):
        refused = call(payload, method="DELETE")
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].startswith(message)
        assert refused.json()["error"]["code"] == 100
    unauthorised = call({"schema": ["EMAIL"], "data": [[TEST_EMAIL]]}, method="DELETE", token="nope")
    assert unauthorised.status_code == 401
    assert unauthorised.json()["error"]["type"] == "OAuthException" and unauthorised.json()["error"]["code"] == 190
    assert api.members() == {frozenset({("EMAIL", TEST_EMAIL)})}, "refused requests changed nothing"
