"""Fixtures that start the simulated source systems: real HTTP servers on loopback, a real SQLite or
PostgreSQL POS database, a real file drop. Integration tests extract from these."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from connectors.base import Window
from connectors.connection import ConnectionInfo
from connectors.extraction import extract
from connectors.registry import registry
from tessera.gates import check_pending_batches
from tessera.home import TesseraHome

TOKEN = "test-token"
PG_ADMIN_URL = os.environ.get("TESSERA_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@dataclass
class Sources:
    """A running simulated world and the connections that reach it."""

    sim: object
    crm_url: str
    esp_url: str

    def conn(self, source: str, **extra) -> ConnectionInfo:
        sim_dir = Path(self.sim.sim_dir) if hasattr(self.sim, "sim_dir") else None
        if source in ("crm", "email"):
            url = self.crm_url if source == "crm" else self.esp_url
            return ConnectionInfo(f"tessera_{source}", "http", host=url, password=TOKEN, extra=extra)
        if source == "pos":
            return ConnectionInfo("tessera_pos", "sqlite", extra={"url": self.pos_url, **extra})
        return ConnectionInfo("tessera_web", "fs", extra={"path": str(sim_dir / "web"), **extra})

    @property
    def pos_url(self) -> str:
        return self.sim.config.pos_url or f"sqlite:///{Path(self.sim.sim_dir) / 'pos.sqlite'}"

    def faults(self, source: str, **rule) -> None:
        url = self.crm_url if source == "crm" else self.esp_url
        httpx.post(f"{url}/_faults", json=rule).raise_for_status()

    def clear_faults(self) -> None:
        for url in (self.crm_url, self.esp_url):
            httpx.delete(f"{url}/_faults").raise_for_status()

    def stats(self, source: str) -> dict:
        return httpx.get(f"{self.crm_url if source == 'crm' else self.esp_url}/_stats").json()


@contextmanager
def running_sources(
    sim_dir: Path, customers: int = 300, seed: int = 7, pos_url: str | None = None, world: str = "diverse"
) -> Iterator[Sources]:
    from tessera_simulator import Simulator, SimulatorConfig
    from tessera_simulator.servers import run_servers

    config = SimulatorConfig(customers=customers, seed=seed, start_date=date(2026, 1, 1), pos_url=pos_url, world=world)
    sim = Simulator(sim_dir, config)
    sim.initialize()
    with run_servers(sim_dir, token=TOKEN) as urls:
        yield Sources(sim, urls.crm, urls.esp)


@pytest.fixture
def sources(tmp_path) -> Iterator[Sources]:
    with running_sources(tmp_path / "sim") as running:
        yield running


def extract_all(sources: Sources, source: str, home: TesseraHome, start, end, **extra) -> dict:
    """Extract every stream of a source for [start, end); results by stream name."""
    results = {}
    for stream in registry().source(source).build_streams(sources.conn(source, **extra)):
        results[stream.contract.stream] = extract(stream, Window(start, end), lake=home.lake, state_dir=home.state)
    return results


def simulated_days(sources: Sources, home: TesseraHome, days: int, initial_load: bool = False) -> Iterator[int]:
    """Advance the simulation a day at a time, land every source's new batches, then yield the day.

    With `initial_load`, everything the sources hold is landed first (yielded as day 0, the days as 1…`days`),
    as a first run with no cursor would; otherwise the first day's batch is that first run (days 0…`days`-1)."""
    sim, start = sources.sim, None
    for day in range(days + 1 if initial_load else days):
        if day or not initial_load:
            sim.advance(days=1)
        for source in registry().sources:
            extract_all(sources, source, home, start, sim.clock)
        check_pending_batches(home)  # as each extract DAG checks what it landed
        start = sim.clock
        yield day


@contextmanager
def throwaway_postgres_database() -> Iterator[str]:
    """A new, empty database on the machine's PostgreSQL; dropped afterwards."""
    name = f"tessera_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
    except sa.exc.OperationalError as exc:
        if os.environ.get("CI"):
            raise RuntimeError(f"PostgreSQL is required in CI and unreachable at {PG_ADMIN_URL}: {exc}") from exc
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}")
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()
