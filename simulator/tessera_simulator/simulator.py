"""The simulated world of source systems, advanced one day at a time.

`initialize()` creates a year of people and the stores as they stood at the start date
(with `history_days` of activity history, 30 by default, and 7 for the website); `advance()` then generates each
following day. Everything is seeded from (seed, purpose, day), so the same config and
the same calls give the same stores and files, across processes.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from tessera_simulator import crm, esp, ground_truth, pos, sqlite_store, web
from tessera_simulator.changes import RowChanges
from tessera_simulator.config import SimulatorConfig, mask_password
from tessera_simulator.pools import Pools
from tessera_simulator.population import (
    apply_life_events,
    create_devices,
    create_persons,
    mailbox,
    pair_households,
)
from tessera_simulator.regional import pools_for
from tessera_simulator.seeding import Purpose, rng_for
from tessera_simulator.state import SimState, read_state, write_state
from tessera_simulator.timestamps import DAY_MS, day_start_ms, iso_ms, ms_to_datetime, times_in_day
from tessera_simulator.world import COUNTERS, World, empty_tables

log = logging.getLogger(__name__)

WEB_HISTORY_DAYS, SIGNUP_SPAN_DAYS = 7, 365


def simulated_streams() -> tuple[str, ...]:
    """The registered streams (`source.stream`), which the simulated systems feed."""
    from connectors.registry import registry

    return tuple(contract.name for contract in registry().streams)


@dataclass(frozen=True)
class DaySummary:
    """What one simulated day wrote, per stream (`source.stream`)."""

    day: date
    counts: dict[str, int]
    late: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)
    new_persons: int = 0
    web_files: int = 0


class _Stores:
    """Open handles on all stores for the length of one initialize/advance call."""

    def __init__(self, sim: Simulator):
        self.crm = sqlite_store.connect(sim.crm_path)
        self.esp = sqlite_store.connect(sim.esp_path)
        self.pos = pos.PosStore(sim.pos_url)

    def close(self) -> None:
        self.crm.close()
        self.esp.close()
        self.pos.dispose()


class Simulator:
    """Stand-ins for a CRM, an email platform, a POS database and a website event drop."""

    def __init__(self, sim_dir: Path, config: SimulatorConfig):
        self.sim_dir = Path(sim_dir)
        self.config = config
        self._state: SimState | None = None

    @classmethod
    def open(cls, sim_dir: Path) -> Simulator:
        """Reopen a simulator directory made by `initialize()` (e.g. in a new process)."""
        state = read_state(Path(sim_dir))
        if state is None:
            raise FileNotFoundError(f"no simulator at {sim_dir}: {Path(sim_dir) / 'state.json'} is missing")
        sim = cls(Path(sim_dir), state.config)
        sim._state = state
        return sim

    # Where things live ---------------------------------------------------------------
    @property
    def crm_path(self) -> Path:
        return self.sim_dir / "crm.sqlite"

    @property
    def esp_path(self) -> Path:
        return self.sim_dir / "esp.sqlite"

    @property
    def web_dir(self) -> Path:
        return self.sim_dir / "web"

    @property
    def pending_dir(self) -> Path:
        return self.sim_dir / "web_pending"

    @property
    def ground_truth_path(self) -> Path:
        return self.sim_dir / "ground_truth.parquet"

    @property
    def households_path(self) -> Path:
        return self.sim_dir / "households.parquet"

    @property
    def pos_url(self) -> str:
        return self.config.pos_url or f"sqlite:///{(self.sim_dir / 'pos.sqlite').resolve()}"

    @property
    def clock(self) -> datetime:
        """The simulated now: data exists up to (not including) this moment."""
        return ms_to_datetime(self._require_state().clock_ms)

    def ground_truth(self) -> pa.Table:
        """Columns source, stream, record_id, person_id (all strings)."""
        return ground_truth.read(self.ground_truth_path)

    def households(self) -> pa.Table:
        """Columns person_id, household_id (all strings): people with one household_id live together."""
        return ground_truth.read(self.households_path)

    # Life cycle ------------------------------------------------------------------------
    def initialize(self) -> None:
        """Create the stores and their history; a no-op if already done with the same config."""
        existing = read_state(self.sim_dir)
        if existing is not None:
            self._check_config(existing)
            self._state = existing
            log.info("simulator at %s already initialized; nothing to do", self.sim_dir)
            return
        started = time.perf_counter()
        self._reset()
        cfg = self.config
        pools = pools_for(cfg.seed, cfg.world)
        start_ms = day_start_ms(cfg.start_date)
        cut_ms = start_ms - cfg.history_days * DAY_MS
        rng = rng_for(cfg.seed, Purpose.POPULATION)
        created = np.sort(
            start_ms - SIGNUP_SPAN_DAYS * DAY_MS + rng.integers(0, SIGNUP_SPAN_DAYS * DAY_MS, cfg.customers)
        )
        persons = create_persons(pools, rng, 1, created, set())
        # Everyone the stores know when their history begins is still a customer then: lifetimes run from there.
        persons["leaves_ms"] += np.maximum(cut_ms - persons["created_ms"].to_numpy(), 0)
        if pools.region is None:  # the regional world forms its households as it creates people
            pair_households(persons, rng)
        world = World(
            persons=persons,
            devices=create_devices(persons, np.arange(len(persons)), rng),
            **empty_tables(),
            counters=dict.fromkeys(COUNTERS, 0),
        )
        world.counters["person"] = len(persons)
        base = np.flatnonzero(created < cut_ms)
        history_rng = rng_for(cfg.seed, Purpose.HISTORY)
        contacts = crm.history(world, base, cut_ms, history_rng)
        members = esp.history(world, base, cut_ms, history_rng)
        loyalty = pos.history(world, base, cut_ms, history_rng, pos.till_habits(pools))
        stores = self._open_stores(create=True)
        try:
            sqlite_store.apply_changes(stores.crm, [contacts], None)
            sqlite_store.apply_changes(stores.esp, [members], None)
            stores.pos.apply([loyalty], None)
            for offset in range(cfg.history_days, 0, -1):
                day = cfg.start_date - timedelta(days=offset)
                self._simulate_day(world, pools, day, stores, marker=None, write_web=offset <= WEB_HISTORY_DAYS)
        finally:
            stores.close()
        self._commit(world, start_ms, days_advanced=0)
        log.info(
            "simulator initialized at %s: %d customers in %.1fs",
            self.sim_dir,
            cfg.customers,
            time.perf_counter() - started,
            extra={"sim_dir": str(self.sim_dir), "customers": cfg.customers},
        )

    def advance(self, days: int = 1) -> list[DaySummary]:
        """Generate the next `days` days, one at a time; the clock moves a day after each."""
        if days < 0:
            raise ValueError(f"advance(days={days}): days must be >= 0")
        state = self._require_state()
        pools = pools_for(self.config.seed, self.config.world)
        summaries = []
        stores = self._open_stores(create=False)
        try:
            for _ in range(days):
                # Each day starts from the saved world, exactly as a reopened simulator would.
                world = World.load(self.sim_dir / state.model, state.counters)
                day = ms_to_datetime(state.clock_ms).date()
                started = time.perf_counter()
                summary = self._simulate_day(world, pools, day, stores, marker=day.isoformat(), write_web=True)
                state = self._commit(world, state.clock_ms + DAY_MS, state.days_advanced + 1)
                summaries.append(summary)
                log.info(
                    "simulated day %s in %.1fs: %s",
                    day,
                    time.perf_counter() - started,
                    ", ".join(f"{k}={v}" for k, v in summary.counts.items()),
                )
        finally:
            stores.close()
        return summaries

    # Internals -------------------------------------------------------------------------
    def _require_state(self) -> SimState:
        if self._state is None:
            state = read_state(self.sim_dir)
            if state is None:
                raise RuntimeError(f"simulator at {self.sim_dir} is not initialized: call initialize() first")
            self._check_config(state)
            self._state = state
        return self._state

    def _check_config(self, state: SimState) -> None:
        diffs = state.config.differences(self.config)
        if diffs:
            raise ValueError(
                f"simulator at {self.sim_dir} was initialized with a different config "
                f"(state.json vs this config): {'; '.join(diffs)}. Use the same config, "
                "Simulator.open() to continue it, or a new directory."
            )

    def _reset(self) -> None:
        """Remove whatever a previous, unfinished initialize left behind."""
        self.sim_dir.mkdir(parents=True, exist_ok=True)
        for name in ("crm.sqlite", "esp.sqlite", "pos.sqlite"):
            if name == "pos.sqlite" and self.config.pos_url:
                continue
            for suffix in ("", "-wal", "-shm", "-journal"):
                (self.sim_dir / (name + suffix)).unlink(missing_ok=True)
        for folder in (self.web_dir, self.pending_dir, self.sim_dir / "model"):
            shutil.rmtree(folder, ignore_errors=True)
        self.ground_truth_path.unlink(missing_ok=True)
        self.households_path.unlink(missing_ok=True)
        if self.config.pos_url:
            store = pos.PosStore(self.config.pos_url)
            try:
                store.reset()
            except Exception as exc:
                raise RuntimeError(
                    f"cannot prepare the POS database {mask_password(self.config.pos_url)}: {exc}"
                ) from exc
            finally:
                store.dispose()

    def _open_stores(self, create: bool) -> _Stores:
        if create:
            sqlite_store.create_schema(self.crm_path, crm.DDL)
            sqlite_store.create_schema(self.esp_path, esp.DDL)
        stores = _Stores(self)
        if create:
            stores.pos.create()
        return stores

    def _simulate_day(
        self, world: World, pools: Pools, day: date, stores: _Stores, marker: str | None, write_web: bool
    ) -> DaySummary:
        seed, day_ms = self.config.seed, day_start_ms(day)
        new_persons = 0
        if day >= self.config.start_date:  # history days replay sign-ups made at initialize
            rng = rng_for(seed, Purpose.ARRIVALS, day)
            n = int(rng.poisson(self.config.customers / SIGNUP_SPAN_DAYS))
            created = np.sort(times_in_day(rng, n, day_ms, np.ones(24)))
            first = world.counters["person"] + 1
            people = create_persons(pools, rng, first, created, {mailbox(e) for e in world.persons["email"].tolist()})
            world.append("persons", people)
            world.counters["person"] += n
            world.append("devices", create_devices(world.persons, np.arange(first - 1, first - 1 + n), rng))
            new_persons = n
        created_ms = world.persons["created_ms"].to_numpy()
        arrivals = np.flatnonzero((created_ms >= day_ms) & (created_ms < day_ms + DAY_MS))
        life = apply_life_events(
            world.persons, pools, rng_for(seed, Purpose.LIFE_EVENTS, day), np.flatnonzero(created_ms < day_ms)
        )
        live = day >= self.config.start_date
        contacts = crm.plan_day(world, day_ms, arrivals, life, rng_for(seed, Purpose.CRM, day), live)
        members, events = esp.plan_day(world, day_ms, arrivals, pools.products, rng_for(seed, Purpose.ESP, day), live)
        loyalty, transactions = pos.plan_day(
            world, pools, day_ms, arrivals, life, rng_for(seed, Purpose.POS, day), live
        )
        web_day = web.plan_day(world, pools, day_ms, rng_for(seed, Purpose.WEB, day), live) if write_web else None

        sqlite_store.apply_changes(stores.crm, [contacts], marker)
        sqlite_store.apply_changes(stores.esp, [members, events], marker)
        stores.pos.apply([loyalty, transactions], marker)
        released = 0
        if web_day is not None:
            stamp = f"{day:%Y%m%d}"
            released = web.release_pending(self.pending_dir, self.web_dir, stamp)
            web.write_day(web_day, self.web_dir, self.pending_dir / stamp)
        return _summary(day, [contacts, members, events, loyalty, transactions], web_day, released, new_persons)

    def _commit(self, world: World, clock_ms: int, days_advanced: int) -> SimState:
        """Save the world for the new clock, the ground truth, then state.json; drop old worlds."""
        model = f"model/{ms_to_datetime(clock_ms):%Y%m%d}"
        world.save(self.sim_dir / model)
        ground_truth.write(ground_truth.build(world), self.ground_truth_path)
        ground_truth.write(ground_truth.build_households(world), self.households_path)
        state = SimState(self.config, clock_ms, dict(world.counters), model, days_advanced)
        write_state(self.sim_dir, state, iso_ms(clock_ms))
        for old in (self.sim_dir / "model").iterdir():
            if old.name != Path(model).name:
                shutil.rmtree(old, ignore_errors=True)
        self._state = state
        return state


def _summary(
    day: date, changes: list[RowChanges], web_day: web.WebDay | None, released: int, new_persons: int
) -> DaySummary:
    streams = simulated_streams()
    counts, late, malformed = dict.fromkeys(streams, 0), dict.fromkeys(streams, 0), dict.fromkeys(streams, 0)
    for change in changes:
        counts[change.stream] += change.written
        late[change.stream] += change.late
        malformed[change.stream] += change.malformed
    files = 0
    if web_day is not None:
        counts["web.events"] = web_day.events
        late["web.events"] = released
        malformed["web.events"] = web_day.malformed
        files = len(web_day.files) + len(web_day.pending)
    return DaySummary(day, counts, late, malformed, new_persons, files)
