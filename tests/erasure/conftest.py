"""One small simulated world, landed by the connectors, built by dbt and published, with its sources kept
running: each test erases someone from its own copy of the home. It is built once per test worker that
runs a module using it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tessera.home import TesseraHome
from tessera.publication import published_path
from tests.lake_reader import landed
from tests.sources import Sources, running_sources, simulated_days


@dataclass(frozen=True)
class Person:
    """Someone with records in several sources, and every spelling of them the tests look for."""

    customer_id: str
    email: str
    phone: str  #: E.164
    record_ids: dict[str, list[str]]  #: by stream name (`crm.contacts`)
    spellings: frozenset[str]  #: every value naming them, as the sources and the warehouse wrote it


@dataclass(frozen=True)
class World:
    home: TesseraHome
    sources: Sources


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Iterator[World]:
    """Built once per session (per xdist worker: the modules using it share the `erasure_world` group)."""
    from tessera.dbt_runner import run_transform

    home = TesseraHome(tmp_path_factory.mktemp("erasure"))
    with running_sources(home.simulator, customers=120, seed=7) as sources:
        for _ in simulated_days(sources, home, 1, initial_load=True):
            pass
        run_transform(home)
        yield World(home, sources)


@pytest.fixture
def erasure_home(world, tmp_path, monkeypatch) -> TesseraHome:
    """A copy of the world's home (the source systems' stores stay where the running sources keep them)."""
    root = tmp_path / "home"
    shutil.copytree(world.home.root, root, ignore=lambda d, names: ["simulator"] if Path(d) == world.home.root else [])
    monkeypatch.setenv("TESSERA_HOME", str(root))
    return TesseraHome(root)


def pick_person(home: TesseraHome) -> Person:
    """The first customer (by id) with records in three sources or more, a phone, and an e-mail and a phone
    no other customer has."""
    con = duckdb.connect(str(published_path(home)), read_only=True)
    try:
        customer_id, email, phone = con.execute(
            """
            with spread as (
                select customer_id from marts.customer_xref group by 1 having count(distinct source) >= 3
            ), golden as (
                select customer_id, email, phone,
                       count(*) over (partition by email) as email_owners,
                       count(*) over (partition by phone) as phone_owners
                from marts.golden_customers
            )
            select customer_id, email, phone from golden join spread using (customer_id)
            where email is not null and phone is not null and email_owners = 1 and phone_owners = 1
            order by customer_id limit 1
            """
        ).fetchone()
        xref = con.execute(
            "select source || '.' || stream, record_id from marts.customer_xref where customer_id = ? order by 1, 2",
            [customer_id],
        ).fetchall()
    finally:
        con.close()
    record_ids: dict[str, list[str]] = {}
    for stream, record_id in xref:
        record_ids.setdefault(stream, []).append(record_id)
    spellings = {customer_id, email, phone, phone[1:]}
    keys = {"crm.contacts": "contact_id", "email.subscribers": "subscriber_id", "pos.loyalty_members": "loyalty_id"}
    for stream, ids in record_ids.items():
        if stream == "web.visitors":
            spellings |= set(ids)  # anonymous ids
            continue
        spellings |= set(ids)
        if stream not in keys:
            continue
        source, name = stream.split(".")
        rows = landed(home.lake, source, name).to_pylist()
        for row in rows:
            if row[keys[stream]] in ids:
                spellings |= {row[c].strip() for c in ("email", "phone") if row.get(c) and row[c].strip()}
    return Person(customer_id, email, phone, record_ids, frozenset(spellings))
