"""Three days of segment changes synced to every destination kind, with faults: after each run every
destination holds exactly what the segment says, row by row, and no customer without consent anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import pytest

from connectors.destinations.hashing import hashed
from tessera.activation.engine import sync
from tests.activation.destinations import SEGMENT, running_targets
from tests.activation.published import World, people, publish

pytestmark = pytest.mark.integration

KILLED_SYNC = """
import json, sys
from connectors.connection import ConnectionInfo
from tessera.activation.activations import parse_activation
from tessera.activation.engine import sync
from tessera.home import TesseraHome
home, activation, conn = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
sync(TesseraHome(__import__("pathlib").Path(home)), parse_activation(activation.pop("segment"), 1, activation),
     ConnectionInfo(**conn), run_id="20260103T060000Z")
"""


def day_one() -> World:
    customers = people(60)
    keys = list(customers)
    for key in keys[35:40]:
        customers[key] = customers[key].but(marketing_consent=False)
    world = World(customers=customers, segments={SEGMENT: [{"customer_id": k} for k in keys[:40]]})
    world.suppressed.add(keys[34])
    return world


def converge(home, targets, run_id: str) -> dict:
    results = {name: sync(home, t.activation, t.conn, run_id=run_id) for name, t in targets.items()}
    return results


def assert_converged(targets, world: World, *, except_rows: dict | None = None) -> None:
    for name, target in targets.items():
        expected = target.expected(world)
        for row in (except_rows or {}).get(name, ()):
            expected.pop(row)
        assert target.held() == expected, name
        unconsented = {k for k, c in world.customers.items() if not c.marketing_consent} | world.suppressed
        if name != "meta_ads":  # the audience holds hashes, compared above
            assert not unconsented & set(target.held()), name


def test_three_days_of_changes_converge_on_every_destination_despite_faults(home):
    with running_targets(home.root / "drop") as targets:
        # Day 1: a 429 storm and a lost answer at the audience; 500s and a connection reset at the webhook;
        # 503s at the ESP; a transient refusal at the mail server.
        world = day_one()
        publish(home, world)
        targets["meta_ads"].fault(status=429, retry_after=0.02, times=5)
        targets["meta_ads"].fault(mode="lost", times=1)
        targets["hooks"].fault(status=500, times=2)
        targets["hooks"].fault(mode="drop", times=1)
        targets["newsletter"].fault(status=503, times=2)
        targets["marketing_team"].store.fail_next(1, 451)
        results = converge(home, targets, "20260101T060000Z")
        assert all(r.status == "success" for r in results.values()), {n: r.error for n, r in results.items()}
        assert_converged(targets, world)

        # Day 2: members leave and join, consent is withdrawn, addresses and names change; the audience
        # refuses one row, which is recorded and held back while the rest goes through; the ESP's answers
        # are lost twice after it applied the requests.
        keys = list(world.customers)
        world.customers.update(people(10, start=60))
        keys = list(world.customers)
        world.segments[SEGMENT] = [{"customer_id": k} for k in keys[5:40] + keys[60:65]]
        for key in keys[10:13]:
            world.customers[key] = world.customers[key].but(marketing_consent=False)
        world.customers[keys[14]] = world.customers[keys[14]].but(email="moved@otherhost.net")
        world.customers[keys[15]] = world.customers[keys[15]].but(first_name="Renamed")
        refused = world.customers[keys[61]]
        meta = targets["meta_ads"]
        store = meta.store
        store.refuse(hashed("meta", "email", refused.email), "the e-mail's domain is blocked")
        targets["newsletter"].fault(mode="lost", times=2)
        publish(home, world)
        results = converge(home, targets, "20260102T060000Z")
        assert results["meta_ads"].rejected == 1 and results["meta_ads"].status == "success"
        refused_row = frozenset(
            [("EMAIL", hashed("meta", "email", refused.email))]
            + ([("PHONE", hashed("meta", "phone", refused.phone))] if refused.phone else [])
        )
        assert_converged(targets, world, except_rows={"meta_ads": [refused_row]})

        # Day 3: the segment's SQL was edited (another rule, so most members change); the webhook sync is
        # killed (-9) after the receiver applied a batch and before the answer came back.
        store.accept(hashed("meta", "email", refused.email))
        world.segments[SEGMENT] = [{"customer_id": k} for k in keys[::2]]
        publish(home, world)
        hooks = targets["hooks"]
        receiver = hooks.store
        hooks.conn.extra["batch_size"] = 5
        hooks.fault(mode="slow", delay=60, after=1, times=1)
        applied = len(receiver.deliveries())
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_SYNC, str(home.root),
             json.dumps({"segment": SEGMENT, "destination": "hooks", "mode": "mirror", "identifiers": ["email"],
                         "fields": dict(hooks.activation.fields)}),
             json.dumps(asdict(hooks.conn))],
            env={**os.environ},
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while len(receiver.deliveries()) < applied + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert len(receiver.deliveries()) == applied + 2, "the receiver should have applied two batches"
        results = converge(home, targets, "20260103T060000Z")
        assert all(r.status == "success" for r in results.values()), {n: r.error for n, r in results.items()}
        assert_converged(targets, world)
        assert results["meta_ads"].added >= 1  # the row refused yesterday went in today
        assert len(receiver.duplicates) >= 1  # the killed run's last batch came again, with the same id
