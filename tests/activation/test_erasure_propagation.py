"""A person's erasure carried to every destination kind on loopback, and out of the sync state's bytes.

Each kind first receives the person through an ordinary sync; then the warehouse forgets them (as
`tessera forget` does before it propagates) and `propagate_erasure` runs. Every destination must no longer
hold them (deleted where the API deletes, removed from audiences, a hashed suppression notice for files
and e-mail), the state files must hold none of their bytes, a second call must send nothing, and a
destination that fails must keep its work queued until a later call completes it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pyarrow.csv as pa_csv
import pytest
from tessera_simulator.destinations.crm_api import GDPR_DELETE_PATH, CrmStore, crm_app
from tessera_simulator.destinations.esp_list_api import subscriber_hash

from connectors.connection import ConnectionInfo
from connectors.destinations.hashing import hashed
from tessera.activation import state
from tessera.activation.activations import parse_activation
from tessera.activation.engine import sync
from tessera.activation.erasure import propagate_erasure
from tessera.connections import connection_env
from tests.activation.destinations import FAST, SEGMENT, Target, _esp_list, _serve, running_targets
from tests.activation.published import World, people, publish

pytestmark = pytest.mark.integration

CRM_TOKEN = "pat-na1-erasure"
LIST_ID = "a1b2c3"  # the ESP target's list (tests/activation/destinations.py)


@contextmanager
def _crm() -> Iterator[Target]:
    """A HubSpot-style CRM synced in upsert mode: contacts stay until someone asks to be forgotten."""
    store = CrmStore({"firstname": "string", "tessera_customer_id": "string"})
    with ExitStack() as stack:
        url = _serve(stack, crm_app(store, CRM_TOKEN), "crm")
        activation = parse_activation(
            SEGMENT, 7, {"destination": "hubspot", "mode": "upsert", "fields": {"firstname": "first_name"}}
        )
        yield Target(
            activation,
            ConnectionInfo("tessera_dest_hubspot", "http", host=url, password=CRM_TOKEN, extra={"kind": "crm", **FAST}),
            held=lambda: store.contacts(),
            expected=lambda world: {},
            fault_url=url,
            fault_path=GDPR_DELETE_PATH,
            store=store,
        )


@contextmanager
def every_kind(drop: Path) -> Iterator[dict[str, Target]]:
    with running_targets(drop) as targets, _crm() as crm:
        yield {**targets, crm.name: crm}


def a_world() -> World:
    customers = people(12)
    return World(customers=customers, segments={SEGMENT: [{"customer_id": key} for key in list(customers)[:10]]})


def forget_in_warehouse(home, world: World, key: str) -> None:
    """What `tessera forget` does before it propagates: the published warehouse no longer has the person."""
    world.customers.pop(key)
    world.segments[SEGMENT] = [row for row in world.segments[SEGMENT] if row["customer_id"] != key]
    publish(home, world)


def identifiers_of(customer) -> list[tuple[str, str]]:
    return [(kind, value) for kind, value in (("email", customer.email), ("phone", customer.phone)) if value]


def state_bytes_holding(home, customer) -> dict[str, list[str]]:
    """Files under the activation state that hold any of the person's values, with which ones."""
    needles = {customer.customer_id, customer.email, customer.phone, (customer.phone or "").lstrip("+")} - {None, ""}
    found = {}
    for path in sorted((home.root / "activation").rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            hits = sorted(needle for needle in needles if needle.encode() in data)
            if hits:
                found[str(path.relative_to(home.root))] = hits
    return found


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def audience_row(customer) -> frozenset:
    pairs = [("EMAIL", hashed("meta", "email", customer.email))]
    return frozenset(pairs + ([("PHONE", hashed("meta", "phone", customer.phone))] if customer.phone else []))


def suppression_rows(data: bytes) -> list[dict]:
    table = pa_csv.read_csv(
        io.BytesIO(data), convert_options=pa_csv.ConvertOptions(strings_can_be_null=False, column_types={
            c: "string" for c in ("erased_at", "customer_id_sha256", "email_sha256", "phone_sha256")})
    )  # fmt: skip
    return table.to_pylist()


def assert_gone_everywhere(targets: dict[str, Target], drop: Path, customer, others) -> None:
    """Each kind no longer holds the person, and still holds everyone else it held."""
    key, email = customer.customer_id, customer.email
    audience = targets["meta_ads"].store.members("120000000001")
    assert audience_row(customer) not in audience
    assert {audience_row(c) for c in others} <= audience

    hooks = targets["hooks"].held()
    assert key not in hooks and set(others_keys(others)) <= set(hooks)
    assert [e["people"] for e in targets["hooks"].store.erasures()] == [1]

    table = targets["warehouse_copy"].held()
    assert key not in table and set(others_keys(others)) <= set(table)

    esp = targets["newsletter"].store
    assert email not in esp.members(LIST_ID)  # deleted for good, not only out of the segment
    assert subscriber_hash(email) in esp.forgotten(LIST_ID)
    assert {c.email for c in others} <= set(esp.members(LIST_ID))

    crm = targets["hubspot"].store
    assert email not in crm.contacts() and email in crm.blocklisted()
    assert {c.email for c in others} <= set(crm.contacts())

    (row,) = suppression_rows((drop / SEGMENT / "suppressions.csv").read_bytes())
    assert targets["marketing_drop"].activation.identifiers == ("email",)  # so the exports had no phone
    assert (row["customer_id_sha256"], row["email_sha256"], row["phone_sha256"]) == (sha256(key), sha256(email), "")
    (notice,) = [m for m in targets["marketing_team"].store.messages() if "erasure notice" in m["Subject"]]
    (attachment,) = list(notice.iter_attachments())
    content = attachment.get_content()
    (row,) = suppression_rows(content if isinstance(content, bytes) else content.encode())
    assert row["customer_id_sha256"] == sha256(key)
    assert email not in notice.as_string() and key not in notice.as_string()


def others_keys(others) -> list[str]:
    return [c.customer_id for c in others]


def synced(home, targets: dict[str, Target], run_id: str) -> None:
    for name, target in targets.items():
        result = sync(home, target.activation, target.conn, run_id=run_id)
        assert result.status == "success", (name, result.error)


@pytest.fixture
def drop(tmp_path) -> Path:
    return tmp_path / "drop"  # the files destination's folder: the recipient's side, outside $TESSERA_HOME


def test_an_erasure_reaches_every_kind_leaves_no_bytes_in_the_state_and_a_second_call_does_nothing(
    home, drop, monkeypatch
):
    world = a_world()
    keys = list(world.customers)
    person = world.customers[keys[1]]  # has an e-mail and a phone
    others = [world.customers[k] for k in keys[:10] if k != person.customer_id]
    publish(home, world)
    with every_kind(drop) as targets:
        synced(home, targets, "20261101T060000Z")
        assert person.email in targets["hubspot"].store.contacts()
        before = state_bytes_holding(home, person)
        assert len(before) == len(targets), before  # the check can fail: every state file holds them now
        for target in targets.values():  # connections as syncs read them: Airflow's environment variables
            conn = target.conn
            env = connection_env(conn.conn_id, conn_type=conn.conn_type, host=conn.host, port=conn.port,
                                 login=conn.login, password=conn.password, schema=conn.schema, extra=conn.extra)  # fmt: skip
            for name, value in env.items():
                monkeypatch.setenv(name, value)
        forget_in_warehouse(home, world, person.customer_id)

        summaries = propagate_erasure(home, [person.customer_id], identifiers_of(person))

        by_destination = {s["destination"]: s for s in summaries}
        assert set(by_destination) == set(targets)
        assert {name: (s["status"], s["action"], s["members"], s["sent"], s["pending"])
                for name, s in by_destination.items()} == {
            "meta_ads": ("done", "removed", 1, 1, 0),
            "hooks": ("done", "deleted", 1, 1, 0),
            "warehouse_copy": ("done", "deleted", 1, 1, 0),
            "newsletter": ("done", "deleted", 1, 1, 0),
            "hubspot": ("done", "deleted", 1, 1, 0),
            "marketing_drop": ("done", "suppression_notice", 1, 1, 0),
            "marketing_team": ("done", "suppression_notice", 1, 1, 0),
        }  # fmt: skip
        text = json.dumps(summaries)
        assert person.email not in text and person.customer_id not in text and person.phone not in text
        assert_gone_everywhere(targets, drop, person, others)
        assert state_bytes_holding(home, person) == {}
        with state.open_state(home, SEGMENT, "meta_ads") as con:
            assert con.execute("select count(*) from members").fetchone() == (len(others),)

        # A second call finds nothing: it sends nothing and leaves every file as it was.
        files = {p: p.stat().st_mtime_ns for p in (home.root / "activation").rglob("*.duckdb")}
        calls = {name: httpx.get(f"{t.fault_url}/_stats").json() for name, t in targets.items() if t.fault_url}
        mails = len(targets["marketing_team"].store.messages())
        again = propagate_erasure(home, [person.customer_id], identifiers_of(person))
        assert {s["status"] for s in again} == {"nothing_to_do"} and len(again) == len(targets)
        assert {p: p.stat().st_mtime_ns for p in files} == files
        assert {name: httpx.get(f"{t.fault_url}/_stats").json() for name, t in targets.items() if t.fault_url} == calls
        assert len(targets["marketing_team"].store.messages()) == mails

        # The rewritten state still works: the next sync has nothing to send, and the person is not re-added.
        for name, target in targets.items():
            result = sync(home, target.activation, target.conn, run_id="20261102T060000Z")
            assert result.status == "success", (name, result.error)
            if target.activation.mode.value != "snapshot":
                assert (result.plan.add, result.plan.update, result.plan.remove) == (0, 0, 0), name
        assert_gone_everywhere(targets, drop, person, others)


def test_a_failing_destination_keeps_its_work_queued_and_a_later_call_completes_it(home, drop, tmp_path):
    world = a_world()
    keys = list(world.customers)
    person = world.customers[keys[4]]
    others = [world.customers[k] for k in keys[:10] if k != keys[4]]
    publish(home, world)
    with every_kind(drop) as targets:
        synced(home, targets, "20261101T060000Z")
        forget_in_warehouse(home, world, person.customer_id)
        for name in ("meta_ads", "hooks", "newsletter", "hubspot"):
            targets[name].fault(status=503, times=FAST["max_attempts"])  # every attempt fails
        targets["marketing_team"].store.fail_next(FAST["max_attempts"], 451)
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("")
        failing = {
            **{name: t.conn for name, t in targets.items()},
            "warehouse_copy": replace(targets["warehouse_copy"].conn, port=1),  # nothing listens there
            "marketing_drop": replace(targets["marketing_drop"].conn, extra={"kind": "files", "path": str(blocker)}),
        }

        first = propagate_erasure(home, [person.customer_id], identifiers_of(person), connection=failing.__getitem__)

        assert {s["destination"]: (s["status"], s["members"], s["sent"], s["pending"]) for s in first} == {
            name: ("pending", 1, 0, 1) for name in targets
        }
        assert all(s["error"] for s in first)
        text = json.dumps(first)
        assert person.email not in text and person.customer_id not in text
        assert audience_row(person) in targets["meta_ads"].store.members("120000000001")  # nothing was confirmed
        assert person.email in targets["hubspot"].store.contacts()
        with state.open_state(home, SEGMENT, "hubspot") as con:  # out of the members, queued for the CRM
            assert con.execute("select count(*) from members where key = ?", [person.customer_id]).fetchone() == (0,)
            assert con.execute("select action, attempts from erasure_queue").fetchall() == [("erase", 1)]
        # A snapshot's queue keeps only hashes, so those files already hold nothing of the person.
        holding = state_bytes_holding(home, person)
        assert not {
            path: hits for path, hits in holding.items() if "marketing_drop" in path or "marketing_team" in path
        }

        second = propagate_erasure(
            home, [person.customer_id], identifiers_of(person), connection=lambda name: targets[name].conn
        )

        assert {s["destination"]: (s["status"], s["members"], s["sent"], s["pending"]) for s in second} == {
            name: ("done", 0, 1, 0) for name in targets
        }
        assert_gone_everywhere(targets, drop, person, others)
        assert state_bytes_holding(home, person) == {}
        third = propagate_erasure(
            home, [person.customer_id], identifiers_of(person), connection=lambda name: targets[name].conn
        )
        assert {s["status"] for s in third} == {"nothing_to_do"}


def test_a_pair_being_synced_is_reported_busy_and_left_for_a_later_call(home, drop):
    world = a_world()
    person = world.customers[list(world.customers)[2]]
    publish(home, world)
    with running_targets(drop) as targets:
        target = targets["meta_ads"]
        synced(home, {"meta_ads": target}, "20261101T060000Z")
        forget_in_warehouse(home, world, person.customer_id)
        lookup = {"connection": lambda name: targets[name].conn}
        with state.open_state(home, SEGMENT, "meta_ads"):  # a sync holds the pair
            (busy,) = propagate_erasure(home, [person.customer_id], identifiers_of(person), wait=0.1, **lookup)
        assert (busy["status"], busy["sent"]) == ("busy", 0)
        assert audience_row(person) in target.store.members("120000000001")

        (done,) = propagate_erasure(home, [person.customer_id], identifiers_of(person), **lookup)

        assert (done["status"], done["members"], done["sent"]) == ("done", 1, 1)
        assert audience_row(person) not in target.store.members("120000000001")


def test_a_person_known_only_by_an_identifier_and_mentioned_in_the_log_is_erased_there_too(home, drop):
    """A state row found by the e-mail it carried (its customer id since merged away), and the person's
    rejected rows and error texts, go with the rest."""
    world = a_world()
    keys = list(world.customers)
    person, refused = world.customers[keys[3]], world.customers[keys[5]]
    publish(home, world)
    with running_targets(drop) as targets:
        target = targets["meta_ads"]
        target.store.refuse(hashed("meta", "email", refused.email), f"blocked address {refused.email}")
        synced(home, {"meta_ads": target}, "20261101T060000Z")
        with state.open_state(home, SEGMENT, "meta_ads") as con:
            con.execute("update sync_log set error = ?", [f"example naming {person.email} and {refused.customer_id}"])
            assert con.execute("select key from rejections").fetchall() == [(refused.customer_id,)]
        forget_in_warehouse(home, world, person.customer_id)
        forget_in_warehouse(home, world, refused.customer_id)
        lookup = {"connection": lambda name: targets[name].conn}

        (first,) = propagate_erasure(home, ["cus_merged_away"], identifiers_of(person), **lookup)
        (second,) = propagate_erasure(home, [refused.customer_id], identifiers_of(refused), **lookup)

        assert (first["status"], first["members"], first["sent"]) == ("done", 1, 1)
        assert (second["status"], second["members"], second["cleaned"]) == ("done", 0, 2)  # rejection + log
        assert state_bytes_holding(home, person) == {} and state_bytes_holding(home, refused) == {}
        assert audience_row(person) not in target.store.members("120000000001")
        with state.open_state(home, SEGMENT, "meta_ads") as con:
            assert con.execute("select error from sync_log").fetchall() == [("example naming <erased> and <erased>",)]


KILLED_ERASURE = """
import sys
from pathlib import Path
from tessera.activation.erasure import propagate_erasure
from tessera.home import TesseraHome
propagate_erasure(TesseraHome(Path(sys.argv[1])), [sys.argv[2]], [("email", sys.argv[3])])
"""


@pytest.mark.slow
def test_an_erasure_killed_after_the_destination_applied_it_is_finished_by_the_next_call(home, drop):
    """Killed (-9) while the audience holds back its answer to the removal it applied: the removal stays
    queued, the next call sends it again (a set operation: the same result) and rewrites the file."""
    world = a_world()
    person = world.customers[list(world.customers)[7]]
    publish(home, world)
    with running_targets(drop) as targets:
        target = targets["meta_ads"]
        synced(home, {"meta_ads": target}, "20261101T060000Z")
        forget_in_warehouse(home, world, person.customer_id)
        conn = target.conn
        env = connection_env(conn.conn_id, conn_type=conn.conn_type, host=conn.host, password=conn.password,
                             extra=conn.extra)  # fmt: skip
        target.fault(mode="slow", delay=60, times=1)
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_ERASURE, str(home.root), person.customer_id, person.email],
            env={**os.environ, **env},
        )
        try:
            deadline = time.monotonic() + 60
            while audience_row(person) in target.store.members("120000000001") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert audience_row(person) not in target.store.members("120000000001"), "the removal never arrived"
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        path = state.state_path(home, SEGMENT, "meta_ads")
        assert state.rewrite_owed(path).exists()
        with state.open_state(home, SEGMENT, "meta_ads") as con:
            assert con.execute("select count(*) from erasure_queue").fetchone() == (1,)

        (done,) = propagate_erasure(
            home, [person.customer_id], identifiers_of(person), connection=lambda name: targets[name].conn
        )

        assert (done["status"], done["members"], done["sent"], done["pending"]) == ("done", 0, 1, 0)
        assert audience_row(person) not in target.store.members("120000000001")
        assert state_bytes_holding(home, person) == {} and not state.rewrite_owed(path).exists()


@pytest.mark.unit
def test_the_suppressions_file_keeps_earlier_rows_and_each_person_once():
    from connectors.destinations.base import Mode, Suppression, SyncRun
    from connectors.destinations.email import EmailDestination
    from connectors.destinations.files import suppressions_csv

    ann = {"customer_id_sha256": sha256("cus_a"), "email_sha256": sha256("ann@mailhost.net"), "phone_sha256": ""}
    bob = {"customer_id_sha256": sha256("cus_b"), "email_sha256": "", "phone_sha256": sha256("+447700900002")}
    first = suppressions_csv(None, Suppression([ann], "2026-11-01T06:00:00+00:00"))
    both = suppressions_csv(first, Suppression([bob, ann], "2026-11-02T06:00:00+00:00"))

    assert suppressions_csv(both, Suppression([bob], "2026-11-03T06:00:00+00:00")) == both
    assert [(r["erased_at"][:10], r["customer_id_sha256"], r["phone_sha256"]) for r in suppression_rows(both)] == [
        ("2026-11-01", ann["customer_id_sha256"], ""),
        ("2026-11-02", bob["customer_id_sha256"], bob["phone_sha256"]),
    ]
    with pytest.raises(ValueError, match="not a suppressions file"):
        suppressions_csv(b"customer_id,email\r\ncus_a,ann@mailhost.net\r\n", Suppression([bob], "2026-11-03"))

    conn = ConnectionInfo("tessera_dest_team", "smtp", host="127.0.0.1", extra={"kind": "email", "to": "m@shop.test"})
    notices = [
        EmailDestination(conn, SyncRun(SEGMENT, "team", Mode.SNAPSHOT, run_id)).compose_suppression(
            Suppression([ann, bob], "2026-11-02T06:00:00+00:00")
        )
        for run_id in ("20261102T060000Z", "20261102T070000Z")
    ]
    assert notices[0]["Message-ID"] == notices[1]["Message-ID"]  # sent again, recognisably the same notice
    assert "delete 2 people from earlier exports" in notices[0]["Subject"]


def test_a_forgotten_address_is_refused_if_a_later_sync_sends_it_again(home):
    """The ESP and the CRM refuse an address deleted under an erasure, as the real APIs do, so a sync that
    sent the person again (from a warehouse that had not forgotten them) is a visible rejection."""
    world = a_world()
    person = world.customers[list(world.customers)[0]]
    publish(home, world)
    with _esp_list() as esp, _crm() as crm:
        targets = chosen = {esp.name: esp, crm.name: crm}
        synced(home, chosen, "20261101T060000Z")
        lookup = {"connection": lambda name: targets[name].conn}
        summaries = propagate_erasure(home, [person.customer_id], identifiers_of(person), **lookup)
        assert {s["destination"]: s["status"] for s in summaries} == {"newsletter": "done", "hubspot": "done"}

        for name, target in chosen.items():  # the warehouse still has them: the next sync sends them again
            result = sync(home, target.activation, target.conn, run_id="20261102T060000Z")
            assert (result.added, result.rejected) == (0, 1), name
            (reason,) = [error for key, error in result.samples["rejected"] if key == person.customer_id]
            assert ("permanently deleted" in reason) if name == "newsletter" else ("blocklisted" in reason), reason
        assert person.email not in targets["newsletter"].store.members(LIST_ID)
        assert person.email not in targets["hubspot"].store.contacts()
