"""Simulated worlds shared by the simulator tests (small, seeded, built once per session)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from tessera_simulator import DaySummary, Simulator, SimulatorConfig

from tests.simulator.snapshots import files, pos_rows, sqlite_rows

PG_ADMIN_URL = os.environ.get("TESSERA_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
START = date(2026, 1, 1)


@dataclass
class DayDiff:
    """What one `advance()` changed, read from the stores before and after."""

    summary: DaySummary
    contacts: dict[str, int]
    members: dict[str, int]
    events: dict[str, int]
    transactions: dict[str, object]
    new_web_files: list[str]


@dataclass
class AdvancedWorld:
    sim: Simulator
    days: list[DayDiff]


def _store_state(sim: Simulator) -> dict[str, dict]:
    return {
        "contacts": dict(sqlite_rows(sim.crm_path, "select key, updated_ms from contacts")),
        "members": dict(sqlite_rows(sim.esp_path, "select key, last_changed_ms from members")),
        "events": dict(sqlite_rows(sim.esp_path, "select key, ts_ms from events")),
        "transactions": {r[0]: r[-1] for r in pos_rows(sim.pos_url, "transactions")},
        "web": set(files(sim.web_dir)),
    }


def _changed(before: dict, after: dict) -> dict:
    return {k: v for k, v in after.items() if before.get(k) != v}


@pytest.fixture(scope="session")
def advanced_world(tmp_path_factory) -> AdvancedWorld:
    """2,000 people, initialized and advanced two days, with what each day changed."""
    sim = Simulator(
        tmp_path_factory.mktemp("world") / "sim", SimulatorConfig(customers=2000, seed=11, start_date=START)
    )
    sim.initialize()
    days = []
    for _ in range(2):
        before = _store_state(sim)
        (summary,) = sim.advance(1)
        after = _store_state(sim)
        days.append(
            DayDiff(
                summary,
                *(_changed(before[k], after[k]) for k in ("contacts", "members", "events", "transactions")),
                sorted(after["web"] - before["web"]),
            )
        )
    return AdvancedWorld(sim, days)


@pytest.fixture
def throwaway_postgres() -> Iterator[str]:
    """A new database on the local PostgreSQL, dropped afterwards; CI must have one."""
    name = f"tessera_sim_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}")
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


def make_sim(root: Path, customers: int = 400, seed: int = 3, pos_url: str | None = None) -> Simulator:
    return Simulator(root, SimulatorConfig(customers=customers, seed=seed, start_date=START, pos_url=pos_url))
