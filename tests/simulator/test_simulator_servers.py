"""The CRM and email APIs over real uvicorn servers on loopback: auth, paging, filters, faults."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from tessera_simulator.servers import run_servers
from tessera_simulator.timestamps import parse_iso_ms

from tests.simulator.conftest import make_sim
from tests.simulator.snapshots import sqlite_rows

pytestmark = pytest.mark.integration
TOKEN = "sim-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A small world, initialized and advanced a day, behind both APIs."""
    sim = make_sim(tmp_path_factory.mktemp("served") / "sim", customers=500, seed=5)
    sim.initialize()
    sim.advance(1)
    with run_servers(sim.sim_dir, token=TOKEN) as urls:
        yield sim, urls


@pytest.fixture
def clean_faults(served):
    _, urls = served
    yield
    for url in (urls.crm, urls.esp):
        httpx.delete(f"{url}/_faults").raise_for_status()


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def page_all(client: httpx.Client, path: str, params: dict, items: str, cursor: str) -> tuple[list[dict], int]:
    """Follow the cursor to the end; returns all items and the number of pages."""
    out, pages, token = [], 0, None
    while True:
        doc = client.get(path, params={**params, **({cursor: token} if token else {})})
        assert doc.status_code == 200, doc.text
        body = doc.json()
        out += body[items]
        pages += 1
        token = (body["paging"] or {}).get("next", {}).get("after") if items == "results" else body["next_cursor"]
        if not token:
            return out, pages


def _expected_contact_ids(sim, since_ms=None, before_ms=None) -> list[str]:
    where, args = ["updated_ms < ?"], [before_ms]
    if since_ms is not None:
        where.append("updated_ms >= ?")
        args.append(since_ms)
    rows = sqlite_rows(
        sim.crm_path,
        f"select key, malformed from contacts where {' and '.join(where)} order by updated_ms, key",
        tuple(args),
    )
    return ["" if bad == "empty_id" else key for key, bad in rows]


def test_requests_without_the_right_bearer_token_get_401_with_a_message(served):
    sim, urls = served
    params = {"updated_before": _iso(sim.clock)}
    for url, path in ((urls.crm, "/crm/v3/contacts"), (urls.esp, "/3.0/members"), (urls.esp, "/3.0/events")):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = httpx.get(url + path, params=params, headers=headers)
            assert answer.status_code == 401
            assert answer.json()["message"]
    assert httpx.get(urls.crm + "/_stats").status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/crm/v3/contacts", {}, "updated_before"),
        ("/crm/v3/contacts", {"updated_before": "yesterday"}, "updated_before"),
        ("/crm/v3/contacts", {"updated_before": "2026-01-02T00:00:00Z", "limit": "501"}, "limit"),
        ("/crm/v3/contacts", {"updated_before": "2026-01-02T00:00:00Z", "limit": "ten"}, "limit"),
        ("/crm/v3/contacts", {"updated_before": "2026-01-02T00:00:00Z", "after": "not-a-cursor"}, "after"),
        (
            "/crm/v3/contacts",
            {"updated_before": "2026-01-01T00:00:00Z", "updated_since": "2026-01-02T00:00Z"},
            "window",
        ),
        ("/3.0/members", {"before_last_changed": "2026-01-02T00:00:00Z", "count": "0"}, "count"),
        ("/3.0/members", {"since_last_changed": "2026-01-01"}, "before_last_changed"),
        ("/3.0/events", {"before": "2026-01-02T00:00:00Z", "count": "1001"}, "count"),
        ("/3.0/events", {"before": "2026-01-02T00:00:00Z", "cursor": "Zm9v"}, "cursor"),
    ],
)
def test_invalid_query_parameters_get_400_naming_the_problem(served, path, params, named):
    _, urls = served
    url = urls.crm if path.startswith("/crm") else urls.esp
    answer = httpx.get(url + path, params=params, headers=AUTH)
    assert answer.status_code == 400
    assert named in answer.json()["message"]


def test_contact_pages_return_every_record_once_in_updated_order(served):
    sim, urls = served
    before = sim.clock
    with httpx.Client(base_url=urls.crm, headers=AUTH) as client:
        contacts, pages = page_all(
            client, "/crm/v3/contacts", {"updated_before": _iso(before), "limit": 37}, "results", "after"
        )
    expected = _expected_contact_ids(sim, before_ms=int(before.timestamp() * 1000))
    assert [c["id"] for c in contacts] == expected
    assert pages == len(expected) // 37 + 1
    ids = [c["id"] for c in contacts if c["id"]]
    assert len(ids) == len(set(ids))
    valid = [c for c in contacts if c.get("updatedAt") not in (None, "N/A")]
    stamps = [parse_iso_ms(c["updatedAt"]) for c in valid]
    assert stamps == sorted(stamps)
    first = contacts[0]
    assert set(first) >= {"id", "properties", "createdAt", "archived"}
    assert set(first["properties"]) == {
        "email",
        "phone",
        "firstname",
        "lastname",
        "date_of_birth",
        "address",
        "city",
        "zip",
        "country",
        "company",
        "hs_marketable_status",
    }
    assert all(v is None or isinstance(v, str) for c in contacts for v in c["properties"].values())
    assert {c["properties"]["hs_marketable_status"] for c in contacts} <= {"true", "false", None}
    assert any(c["archived"] for c in contacts)
    assert all(c["createdAt"].endswith("Z") and len(c["createdAt"]) == 24 for c in contacts)
    malformed = [c for c in contacts if not c["id"] or c.get("updatedAt") in (None, "N/A")]
    assert malformed, "the CRM serves no malformed contact to quarantine"


def test_updated_since_and_before_select_a_half_open_window(served):
    sim, urls = served
    start, end = sim.clock - timedelta(days=1), sim.clock
    params = {"updated_since": _iso(start), "updated_before": _iso(end), "limit": 500}
    with httpx.Client(base_url=urls.crm, headers=AUTH) as client:
        contacts, _ = page_all(client, "/crm/v3/contacts", params, "results", "after")
    expected = _expected_contact_ids(sim, int(start.timestamp() * 1000), int(end.timestamp() * 1000))
    assert [c["id"] for c in contacts] == expected and expected
    for c in contacts:
        if c.get("updatedAt") not in (None, "N/A"):
            assert _iso(start) <= c["updatedAt"] < _iso(end)
    boundary = contacts[-1]
    if boundary.get("updatedAt") not in (None, "N/A"):  # `before` is exclusive, `since` inclusive
        exact = {"updated_since": boundary["updatedAt"], "updated_before": _iso(end)}
        again = httpx.get(urls.crm + "/crm/v3/contacts", params=exact, headers=AUTH).json()["results"]
        assert boundary["id"] in [c["id"] for c in again]
        up_to = {"updated_before": boundary["updatedAt"], "updated_since": _iso(start), "limit": 500}
        older = httpx.get(urls.crm + "/crm/v3/contacts", params=up_to, headers=AUTH).json()["results"]
        assert boundary["id"] not in [c["id"] for c in older]


def test_members_and_events_pages_return_every_record_once_in_order(served):
    sim, urls = served
    before = _iso(sim.clock)
    with httpx.Client(base_url=urls.esp, headers=AUTH) as client:
        members, _ = page_all(
            client, "/3.0/members", {"before_last_changed": before, "count": 111}, "members", "cursor"
        )
        events, pages = page_all(client, "/3.0/events", {"before": before, "count": 1000}, "events", "cursor")
        since = _iso(sim.clock - timedelta(days=1))
        last_day, _ = page_all(
            client, "/3.0/events", {"since": since, "before": before, "count": 250}, "events", "cursor"
        )
    assert [m["id"] for m in members] == [
        r[0] for r in sqlite_rows(sim.esp_path, "select key from members order by last_changed_ms, key")
    ]
    expected_events = [r[0] for r in sqlite_rows(sim.esp_path, "select key from events order by ts_ms, key")]
    assert [e["id"] for e in events] == expected_events
    assert pages == len(expected_events) // 1000 + 1
    assert len(set(expected_events)) == len(expected_events)
    day_ms = int(sim.clock.timestamp() * 1000) - 86_400_000
    assert [e["id"] for e in last_day] == [
        r[0]
        for r in sqlite_rows(sim.esp_path, "select key from events where ts_ms >= ? order by ts_ms, key", (day_ms,))
    ]
    assert {m["status"] for m in members} <= {"subscribed", "unsubscribed", "cleaned", "bounced"}
    assert all(set(m["merge_fields"]) == {"FNAME", "LNAME"} for m in members)
    types = {e.get("type") for e in events}
    assert {"sent", "delivered", "open", "click"} <= types and None in types
    assert all(e["url"] for e in events if e.get("type") == "click")
    assert any("email_address" not in m for m in members)
    bad_stamps = [e for e in events if not e["timestamp"].endswith("Z") or len(e["timestamp"]) != 24]
    assert bad_stamps, "no event with a garbage timestamp"


def test_status_changing_events_change_the_member(served):
    sim, urls = served
    with httpx.Client(base_url=urls.esp, headers=AUTH) as client:
        members, _ = page_all(
            client, "/3.0/members", {"before_last_changed": _iso(sim.clock), "count": 1000}, "members", "cursor"
        )
        events, _ = page_all(client, "/3.0/events", {"before": _iso(sim.clock), "count": 1000}, "events", "cursor")
    by_id = {m["id"]: m for m in members}
    leaving = [e for e in events if e.get("type") in ("unsubscribe", "spam_complaint", "bounce")]
    assert leaving
    for event in leaving:
        member = by_id[event["subscriber_id"]]
        assert member["last_changed"] >= event["timestamp"] or not event["timestamp"].endswith("Z")
        if member["last_changed"] == event["timestamp"]:
            assert member["status"] == ("unsubscribed" if event["type"] != "bounce" else member["status"])
            assert member["status"] in (("bounced", "cleaned") if event["type"] == "bounce" else ("unsubscribed",))


def test_records_changed_during_an_extraction_neither_shift_pages_nor_repeat(tmp_path):
    sim = make_sim(tmp_path / "sim", customers=600, seed=8)
    sim.initialize()
    # A window that ends 3 h before the clock: every edit the next day makes lands after it.
    before = sim.clock - timedelta(hours=3)
    params = {"updated_before": _iso(before), "limit": 50}
    with run_servers(sim.sim_dir, token=TOKEN) as urls, httpx.Client(base_url=urls.crm, headers=AUTH) as client:
        first = client.get("/crm/v3/contacts", params=params).json()
        unchanged_before = set(_expected_contact_ids(sim, before_ms=int(before.timestamp() * 1000)))
        sim.advance(1)  # edits contacts, some of them on pages not read yet
        rest, _ = page_all(
            client, "/crm/v3/contacts", {**params, "after": first["paging"]["next"]["after"]}, "results", "after"
        )
        ids = [c["id"] for c in first["results"] + rest if c["id"]]
        assert len(ids) == len(set(ids)), "a contact was served twice"
        still_there = set(_expected_contact_ids(sim, before_ms=int(before.timestamp() * 1000)))
        assert still_there <= set(ids) | {""}, "a contact untouched by the edits was skipped"
        assert set(ids) <= unchanged_before
        # ...and the new day is served right away, read from the store on each request
        new_window = {"updated_since": _iso(sim.clock - timedelta(days=1)), "updated_before": _iso(sim.clock)}
        fresh, _ = page_all(client, "/crm/v3/contacts", {**new_window, "limit": 500}, "results", "after")
        assert fresh and len(fresh) == len(
            _expected_contact_ids(
                sim, int((sim.clock - timedelta(days=1)).timestamp() * 1000), int(sim.clock.timestamp() * 1000)
            )
        )


def test_a_429_rule_fails_the_next_requests_after_some_succeed_with_retry_after(served, clean_faults):
    sim, urls = served
    rule = {
        "path_prefix": "/crm/v3/contacts",
        "after": 2,
        "times": 3,
        "status": 429,
        "retry_after": 0,
        "mode": "status",
    }
    assert httpx.post(urls.crm + "/_faults", json=rule).status_code == 201
    stats_before = httpx.get(urls.crm + "/_stats").json()
    params = {"updated_before": _iso(sim.clock), "limit": 5}
    answers = [httpx.get(urls.crm + "/crm/v3/contacts", params=params, headers=AUTH) for _ in range(7)]
    assert [a.status_code for a in answers] == [200, 200, 429, 429, 429, 200, 200]
    assert all(a.headers["Retry-After"] == "0" and a.json()["message"] for a in answers[2:5])
    stats = httpx.get(urls.crm + "/_stats").json()
    assert stats["faults_served"] - stats_before["faults_served"] == 3
    assert stats["requests"]["/crm/v3/contacts"] - stats_before["requests"].get("/crm/v3/contacts", 0) == 7


def test_a_500_rule_and_a_drop_rule_queue_up_in_order(served, clean_faults):
    sim, urls = served
    params = {"before": _iso(sim.clock), "count": 10}
    httpx.post(urls.esp + "/_faults", json={"path_prefix": "/3.0/events", "status": 500}).raise_for_status()
    httpx.post(
        urls.esp + "/_faults", json={"path_prefix": "/3.0/events", "after": 1, "mode": "drop"}
    ).raise_for_status()
    assert len(httpx.get(urls.esp + "/_faults").json()["rules"]) == 2
    with httpx.Client(base_url=urls.esp, headers=AUTH) as client:
        failed = client.get("/3.0/events", params=params)
        assert failed.status_code == 500 and "Retry-After" not in failed.headers
        members = client.get("/3.0/members", params={"before_last_changed": _iso(sim.clock)})
        assert members.status_code == 200, "a rule for /3.0/events must not touch /3.0/members"
        assert client.get("/3.0/events", params=params).status_code == 200
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get("/3.0/events", params=params)
        assert client.get("/3.0/events", params=params).status_code == 200
    assert httpx.get(urls.esp + "/_faults").json()["rules"] == []


def test_delete_clears_queued_rules_and_bad_rules_are_refused(served, clean_faults):
    sim, urls = served
    httpx.post(urls.crm + "/_faults", json={"path_prefix": "/crm", "times": 100, "status": 503}).raise_for_status()
    assert httpx.delete(urls.crm + "/_faults").status_code == 200
    params = {"updated_before": _iso(sim.clock), "limit": 1}
    assert httpx.get(urls.crm + "/crm/v3/contacts", params=params, headers=AUTH).status_code == 200
    for bad in (
        {"mode": "explode"},
        {"times": 0},
        {"status": 99},
        {"path_prefix": "crm"},
        {"retry_after": "soon"},
        {"colour": "red"},
        ["not", "an", "object"],
    ):
        answer = httpx.post(urls.crm + "/_faults", json=bad)
        assert answer.status_code == 400 and answer.json()["message"], bad
    assert (
        httpx.post(urls.crm + "/_faults", content=b"{nope", headers={"content-type": "application/json"}).status_code
        == 400
    )


def test_fault_rules_hold_under_concurrent_requests(served, clean_faults):
    sim, urls = served
    stats_before = httpx.get(urls.crm + "/_stats").json()["faults_served"]
    httpx.post(
        urls.crm + "/_faults", json={"path_prefix": "/crm", "after": 5, "times": 10, "status": 500}
    ).raise_for_status()
    params = {"updated_before": _iso(sim.clock), "limit": 2}
    lock, codes = threading.Lock(), []

    def call(_):
        code = httpx.get(urls.crm + "/crm/v3/contacts", params=params, headers=AUTH).status_code
        with lock:
            codes.append(code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(call, range(40)))
    assert codes.count(500) == 10 and codes.count(200) == 30
    assert httpx.get(urls.crm + "/_stats").json()["faults_served"] - stats_before == 10
