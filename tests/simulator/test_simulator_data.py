"""The data itself: late arrivals, ground truth coverage, the kinds of mess, and volumes."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from tessera_simulator.pools import NICKNAMES
from tessera_simulator.timestamps import DAY_MS, HOUR_MS, day_start_ms

from tests.simulator.conftest import START
from tests.simulator.snapshots import pos_rows, sqlite_rows, web_events, web_lines

pytestmark = pytest.mark.unit


def _window(day) -> tuple[int, int]:
    start = day_start_ms(day)
    return start, start + DAY_MS


def test_late_crm_esp_and_pos_records_are_dated_up_to_three_hours_before_the_day_they_appear(advanced_world):
    for diff in advanced_world.days:
        start, end = _window(diff.summary.day)
        naive_start = datetime.fromtimestamp(start / 1000, tz=UTC).replace(tzinfo=None)
        for stream, written in (
            ("crm.contacts", diff.contacts),
            ("email.subscribers", diff.members),
            ("email.events", diff.events),
        ):
            assert written, stream
            assert all(start - 3 * HOUR_MS <= ts < end for ts in written.values()), stream
            late = [ts for ts in written.values() if ts < start]
            assert len(late) == diff.summary.late[stream], stream
        assert diff.summary.late["crm.contacts"] > 0 and diff.summary.late["email.events"] > 0
        tx_times = list(diff.transactions.values())
        assert all(naive_start - timedelta(hours=3) <= t < naive_start + timedelta(days=1) for t in tx_times)
        late_tx = [t for t in tx_times if t < naive_start]
        assert late_tx and len(late_tx) == diff.summary.late["pos.transactions"]


def test_some_web_files_of_the_previous_day_are_first_dropped_the_next_day(advanced_world):
    for diff in advanced_world.days:
        start, _ = _window(diff.summary.day)
        previous_day = (diff.summary.day - timedelta(days=1)).strftime("%Y/%m/%d/")
        late_files = [
            name for name in diff.new_web_files if not name.startswith(diff.summary.day.strftime("%Y/%m/%d/"))
        ]
        assert late_files, "no file of the previous day was dropped late"
        assert all(name.startswith(previous_day) for name in late_files)
        root = advanced_world.sim.web_dir
        late_events = [json.loads(line) for name, line in web_lines(root) if name in late_files and _is_json(line)]
        assert late_events and all(e["timestamp"] < _iso(start) for e in late_events)
    assert all(not p.name.endswith(".jsonl.gz") for p in advanced_world.sim.web_dir.rglob("*.tmp"))


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:
        return False


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _truth(sim) -> dict[tuple[str, str], dict[str, set[str]]]:
    out: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in sim.ground_truth().to_pylist():
        out[(row["source"], row["stream"])][row["record_id"]].add(row["person_id"])
    return out


def test_ground_truth_covers_every_record_in_every_store(advanced_world):
    sim = advanced_world.sim
    truth = _truth(sim)
    assert sim.ground_truth().schema.names == ["source", "stream", "record_id", "person_id"]
    contacts = {r[0] for r in sqlite_rows(sim.crm_path, "select key from contacts")}
    members = {r[0] for r in sqlite_rows(sim.esp_path, "select key from members")}
    loyalty = {r[0] for r in pos_rows(sim.pos_url, "loyalty_members")}
    transactions = {r[0] for r in pos_rows(sim.pos_url, "transactions")}
    assert set(truth[("crm", "contacts")]) == contacts
    assert set(truth[("email", "subscribers")]) == members
    assert set(truth[("pos", "loyalty_members")]) == loyalty
    assert set(truth[("pos", "transactions")]) == transactions
    dropped = {e["anonymousId"] for e in web_events(sim.web_dir)}
    pending = {e["anonymousId"] for e in web_events(sim.pending_dir)}
    assert set(truth[("web", "visitors")]) == dropped | pending
    single = [ids for key, records in truth.items() if key != ("web", "visitors") for ids in records.values()]
    assert all(len(ids) == 1 for ids in single), "a non-web record maps to more than one person"


def test_logged_in_web_users_are_crm_contacts_of_a_person_using_that_browser(advanced_world):
    sim = advanced_world.sim
    truth = _truth(sim)
    logged_in = [e for e in web_events(sim.web_dir) if e.get("userId")]
    assert logged_in
    for event in logged_in:
        (person,) = truth[("crm", "contacts")][event["userId"]]
        assert person in truth[("web", "visitors")][event["anonymousId"]]


def test_shared_household_browsers_are_used_by_two_people_logging_in_as_themselves(advanced_world):
    sim = advanced_world.sim
    truth = _truth(sim)
    shared = {anon for anon, people in truth[("web", "visitors")].items() if len(people) == 2}
    assert shared
    users_by_browser = defaultdict(set)
    for event in web_events(sim.web_dir):
        if event.get("userId") and event["anonymousId"] in shared:
            users_by_browser[event["anonymousId"]].add(next(iter(truth[("crm", "contacts")][event["userId"]])))
    assert users_by_browser, "nobody logged in on a shared browser"


def test_the_sources_carry_the_documented_kinds_of_mess(advanced_world):
    sim = advanced_world.sim
    contacts = sqlite_rows(sim.crm_path, "select email, phone, firstname, date_of_birth, address from contacts")
    loyalty = pos_rows(sim.pos_url, "loyalty_members")
    emails = [r[0] for r in contacts if r[0]] + [r[3] for r in loyalty if r[3]]
    assert any(e != e.strip() for e in emails), "no stray whitespace"
    assert any(e.strip() != e.strip().lower() for e in emails), "no odd case"
    assert any("+" in e.split("@")[0] for e in emails), "no +tags"
    assert any(e.strip().lower().endswith("@googlemail.com") for e in emails)
    gmail_locals = {e.strip().lower().split("@")[0].split("+")[0] for e in emails if "gmail.com" in e.lower()}
    undotted = {g.replace(".", "") for g in gmail_locals if "." in g}
    assert undotted & gmail_locals, "no gmail address written both with and without dots"
    placeholders = {"test@test.com", "none@none.com", "n/a", "unknown", "0000000000"}
    assert placeholders & {v for r in contacts + loyalty for v in r if isinstance(v, str)}
    phones = [r[1] for r in contacts if r[1]] + [r[4] for r in loyalty if r[4]]
    for pattern in (r"^\+\d{10,13}$", r"^\(\d{3}\) \d{3}-\d{4}$", r"^0\d{4} \d{6}$", r"^\d{3}-\d{3}-\d{4}$"):
        assert any(re.match(pattern, p) for p in phones), pattern
    dates = [r[3] for r in contacts if r[3]] + [r[5] for r in loyalty if r[5]]
    for pattern in (r"^\d{4}-\d{2}-\d{2}$", r"^\d{2}/\d{2}/\d{4}$", r"^\d{1,2} [A-Z][a-z]{2} \d{4}$"):
        assert any(re.match(pattern, d) for d in dates), pattern
    assert any(r[3] is None for r in contacts), "birth dates are never missing"
    streets = [r[4] for r in contacts if r[4]]
    assert any(s.endswith(" Street") for s in streets) and any(re.search(r" St\.?$", s) for s in streets)
    nicknames = {n for options in NICKNAMES.values() for n in options}
    assert nicknames & {r[2] for r in contacts}, "no nicknames"


def test_crm_has_duplicates_and_soft_deletes_and_pos_has_shared_receipts_and_reused_cards(advanced_world):
    sim = advanced_world.sim
    truth = _truth(sim)
    per_person = Counter(next(iter(p)) for p in truth[("crm", "contacts")].values())
    assert any(n >= 2 for n in per_person.values()), "no person entered twice in the CRM"
    assert sqlite_rows(sim.crm_path, "select count(*) from contacts where archived = 1")[0][0] > 0
    transactions = pos_rows(sim.pos_url, "transactions")
    store_receipts = defaultdict(set)
    token_people, token_uses = defaultdict(set), Counter()
    for tx_id, _store, _loyalty, token, receipt, *_ in transactions:
        (person,) = truth[("pos", "transactions")][tx_id]
        if receipt and receipt.startswith("receipts@"):
            store_receipts[receipt].add(person)
        if token:
            token_people[token].add(person)
            token_uses[token] += 1
    assert max(len(p) for p in store_receipts.values()) >= 3, "a store's default receipt email is not shared"
    assert all(len(p) == 1 for p in token_people.values()), "a card token is used by two people"
    assert max(token_uses.values()) >= 2, "nobody paid twice with the same card"


def test_a_small_share_of_records_is_malformed_for_the_connectors_to_quarantine(advanced_world):
    sim = advanced_world.sim
    crm = Counter(r[0] for r in sqlite_rows(sim.crm_path, "select malformed from contacts"))
    events = Counter(r[0] for r in sqlite_rows(sim.esp_path, "select malformed from events"))
    members = Counter(r[0] for r in sqlite_rows(sim.esp_path, "select malformed from members"))
    for counts in (crm, events, members):
        bad = sum(n for k, n in counts.items() if k)
        assert 0 < bad < 0.02 * sum(counts.values())
    assert {"type_missing", "timestamp_garbage"} <= set(events)
    lines = [line for _, line in web_lines(sim.web_dir)]
    truncated = [line for line in lines if not _is_json(line)]
    no_id = [line for line in lines if _is_json(line) and "messageId" not in json.loads(line)]
    assert truncated and no_id
    assert len(truncated) + len(no_id) < 0.02 * len(lines)
    # the POS database has strict types and no malformed rows
    assert all(r[-1] is not None and r[0] for r in pos_rows(sim.pos_url, "transactions"))


def test_daily_volumes_are_in_the_documented_ranges(advanced_world):
    sim = advanced_world.sim
    people = 2000
    contacts = sqlite_rows(sim.crm_path, "select count(*) from contacts")[0][0]
    subscribers = sqlite_rows(sim.esp_path, "select count(*) from members")[0][0]
    loyalty = len(pos_rows(sim.pos_url, "loyalty_members"))
    assert 0.6 * people < contacts < 0.85 * people
    assert 0.5 * people < subscribers < 0.7 * people
    assert 0.3 * people < loyalty < 0.5 * people
    for diff in advanced_world.days:
        counts = diff.summary.counts
        assert 0.01 * contacts < counts["crm.contacts"] < 0.08 * contacts
        assert 0.15 * subscribers < counts["email.events"] < 0.5 * subscribers
        assert 0.01 * people < counts["pos.transactions"] < 0.035 * people
        assert 0.1 * people < counts["web.events"] < 0.5 * people
        assert 0 < diff.summary.new_persons < 0.01 * people
    history = sqlite_rows(sim.esp_path, "select min(ts_ms) from events")[0][0]
    assert day_start_ms(START) - 31 * DAY_MS <= history < day_start_ms(START) - 29 * DAY_MS
    web_days = {name[:10] for name, _ in web_lines(sim.web_dir)}
    assert min(web_days) == (START - timedelta(days=7)).strftime("%Y/%m/%d")
