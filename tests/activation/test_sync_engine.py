"""The sync engine against the stand-in ad-audience API: diffs, consent, invalid rows, faults, convergence."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tessera_simulator.destinations.ad_audience_api import AudienceStore, ad_audience_app
from tessera_simulator.servers.runner import BackgroundServer

from connectors.connection import ConnectionInfo
from connectors.destinations.hashing import hashed
from tessera.activation.activations import parse_activation
from tessera.activation.engine import sync
from tessera.activation.state import open_state
from tests.activation.published import World, people, publish

pytestmark = pytest.mark.integration

TOKEN, AUDIENCE = "token", "120000000001"
FAST = {"initial_wait_seconds": 0.01, "max_wait_seconds": 0.05, "max_attempts": 3}
ACTIVATION = parse_activation(
    "lapsed_vips", 1, {"destination": "meta_ads", "mode": "add_remove", "identifiers": ["email", "phone"]}
)


class Audience:
    def __init__(self, store: AudienceStore, url: str):
        self.store, self.url = store, url

    def conn(self, **extra) -> ConnectionInfo:
        options = {"kind": "ad_audience", "audience_id": AUDIENCE, **FAST, **extra}
        return ConnectionInfo("tessera_dest_meta_ads", "http", host=f"{self.url}/v21.0", password=TOKEN, extra=options)

    def fault(self, **rule) -> None:
        httpx.post(f"{self.url}/_faults", json={"path_prefix": f"/v21.0/{AUDIENCE}/users", **rule}).raise_for_status()

    def rows(self) -> set:
        return self.store.members(AUDIENCE)


@pytest.fixture
def audience() -> Iterator[Audience]:
    store = AudienceStore()
    store.create(AUDIENCE)
    server = BackgroundServer(ad_audience_app(store, TOKEN), "ad-audience")
    server.start()
    try:
        yield Audience(store, server.url)
    finally:
        server.stop()


def expected_rows(world: World, segment: str = "lapsed_vips") -> set:
    rows = set()
    for customer in world.members(segment).values():
        pairs = [("EMAIL", hashed("meta", "email", customer.email))] if customer.email else []
        pairs += [("PHONE", hashed("meta", "phone", customer.phone))] if customer.phone else []
        rows.add(frozenset(pairs))
    return rows


def world_of(n: int = 30) -> World:
    customers = people(n)
    return World(
        customers=customers, segments={"lapsed_vips": [{"customer_id": key} for key in list(customers)[: n - 5]]}
    )


def confirmed_keys(home) -> set[str]:
    with open_state(home, "lapsed_vips", "meta_ads") as con:
        return {key for (key,) in con.execute("select key from members").fetchall()}


def test_a_first_sync_sends_everyone_and_a_second_sends_nothing(home, audience):
    world = world_of()
    publish(home, world)

    first = sync(home, ACTIVATION, audience.conn())
    assert (first.status, first.added, first.removed) == ("success", 25, 0)
    assert audience.rows() == expected_rows(world)
    requests = audience.store.stats()["requests"]

    second = sync(home, ACTIVATION, audience.conn())
    assert (second.plan.add, second.plan.update, second.plan.remove) == (0, 0, 0)
    assert audience.store.stats()["requests"] == requests  # nothing was sent


def test_leaving_the_segment_withdrawing_consent_or_being_suppressed_removes_the_member(home, audience):
    world = world_of()
    publish(home, world)
    sync(home, ACTIVATION, audience.conn())
    keys = [row["customer_id"] for row in world.segments["lapsed_vips"]]
    world.segments["lapsed_vips"] = [{"customer_id": key} for key in keys[1:]]  # keys[0] leaves
    world.customers[keys[1]] = world.customers[keys[1]].but(marketing_consent=False)
    world.suppressed.add(keys[2])
    world.customers[keys[3]] = world.customers[keys[3]].but(email="new.address@example.com")
    publish(home, world)

    result = sync(home, ACTIVATION, audience.conn())

    assert (result.removed, result.updated, result.excluded) == (3, 1, 2)
    assert audience.rows() == expected_rows(world)
    assert confirmed_keys(home) == set(world.members("lapsed_vips"))


def test_rows_that_cannot_be_sent_are_reported_and_the_rest_is_sent(home, audience):
    world = world_of()
    keys = list(world.customers)
    world.customers[keys[0]] = world.customers[keys[0]].but(email="not-an-address", phone=None)
    world.customers[keys[1]] = world.customers[keys[1]].but(email=None, phone=None)
    world.segments["lapsed_vips"] += [{"customer_id": keys[2]}, {"customer_id": "cus_unknown"}, {"customer_id": None}]
    publish(home, world)

    result = sync(home, ACTIVATION, audience.conn())

    reasons = dict(result.samples["invalid"])
    assert reasons[keys[0]] == "malformed e-mail: not-an-address"
    assert reasons[keys[2]].startswith("duplicate customer_id")
    assert reasons["cus_unknown"] == "customer_id not in marts.golden_customers"
    assert reasons[None] == "null customer_id"
    assert reasons[keys[1]] == "no e-mail or phone to match on"  # the destination's own check
    assert result.invalid == 6 and result.status == "success"  # both rows of the duplicated key
    sent = {k: c for k, c in world.members("lapsed_vips").items() if k not in (keys[0], keys[1], keys[2])}
    assert confirmed_keys(home) == set(sent)


def test_a_destination_failing_for_good_keeps_what_it_confirmed_and_the_next_run_converges(home, audience):
    world = world_of(40)
    publish(home, world)
    audience.fault(status=500, times=3)  # every attempt of the one batch fails

    failed = sync(home, ACTIVATION, audience.conn(), run_id="20260101T060000Z")

    assert failed.status == "failed" and "HTTP 500" in failed.error
    assert confirmed_keys(home) == set() and audience.rows() == set()  # nothing sent, nothing claimed
    recovered = sync(home, ACTIVATION, audience.conn(), run_id="20260102T060000Z")
    assert recovered.status == "success" and audience.rows() == expected_rows(world)


def test_small_batches_commit_one_by_one_so_a_failure_midway_resumes_where_it_stopped(home, audience):
    world = world_of(40)
    publish(home, world)
    audience.fault(status=503, after=2, times=3)  # two batches pass, then every attempt of the third fails

    failed = sync(home, ACTIVATION, audience.conn(batch_size=10))

    assert failed.status == "failed" and failed.added == 20
    assert len(confirmed_keys(home)) == 20
    done = sync(home, ACTIVATION, audience.conn(batch_size=10))
    assert (done.status, done.added) == ("success", 15)
    assert audience.rows() == expected_rows(world)


def test_a_lost_answer_is_sent_again_and_the_audience_holds_each_member_once(home, audience):
    world = world_of()
    publish(home, world)
    audience.fault(mode="lost", times=1)

    result = sync(home, ACTIVATION, audience.conn())

    assert result.status == "success" and result.retried == 1
    assert audience.rows() == expected_rows(world)


def test_a_429_storm_is_waited_out_and_is_not_a_failure(home, audience):
    world = world_of()
    publish(home, world)
    audience.fault(status=429, retry_after=0.05, times=6)  # more than max_attempts: 429s do not count

    result = sync(home, ACTIVATION, audience.conn())

    assert (result.status, result.retried) == ("success", 6)
    assert audience.rows() == expected_rows(world)


def test_a_dry_run_sends_nothing_and_a_full_resync_sends_everyone_again(home, audience):
    world = world_of()
    publish(home, world)

    planned = sync(home, ACTIVATION, audience.conn(), dry_run=True)
    assert (planned.status, planned.plan.add) == ("dry_run", 25)
    assert audience.rows() == set() and confirmed_keys(home) == set()

    sync(home, ACTIVATION, audience.conn())
    again = sync(home, ACTIVATION, audience.conn(), full_resync=True)
    assert again.added == 25 and audience.rows() == expected_rows(world)


def test_every_run_writes_a_sync_log_row(home, audience):
    from tessera.activation.state import sync_log

    publish(home, world_of())
    sync(home, ACTIVATION, audience.conn(), run_id="20260101T060000Z")
    audience.fault(status=500, times=3)
    world = world_of()
    world.segments["lapsed_vips"] = world.segments["lapsed_vips"][:3]
    publish(home, world)
    sync(home, ACTIVATION, audience.conn(), run_id="20260102T060000Z")

    newest, oldest = sync_log(home)
    assert (oldest["run_id"], oldest["status"], oldest["added"], oldest["members"]) == (
        "20260101T060000Z",
        "success",
        25,
        25,
    )
    assert (newest["status"], newest["planned_remove"], newest["removed"]) == ("failed", 22, 0)
    assert "HTTP 500" in newest["error"]


def test_a_leaver_sharing_identifiers_with_a_member_who_stays_is_not_removed_from_the_audience(home, audience):
    """Two customers with the same e-mail and phone are one row to the platform (a shared family inbox)."""
    world = world_of()
    keys = [row["customer_id"] for row in world.segments["lapsed_vips"]]
    world.customers[keys[1]] = world.customers[keys[1]].but(
        email=world.customers[keys[0]].email, phone=world.customers[keys[0]].phone
    )
    publish(home, world)
    sync(home, ACTIVATION, audience.conn())
    world.segments["lapsed_vips"] = [{"customer_id": key} for key in keys[1:]]  # keys[0] leaves
    publish(home, world)

    result = sync(home, ACTIVATION, audience.conn())

    assert (result.status, result.removed, result.plan.remove) == ("success", 0, 0)
    assert audience.rows() == expected_rows(world)  # the shared row is still there, for keys[1]
    assert keys[0] not in confirmed_keys(home)
