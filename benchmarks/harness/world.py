"""A simulated world at one scale, built once in the work folder and reused by every benchmark."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

log = logging.getLogger(__name__)

START_DATE = date(2026, 1, 1)
SETUP_NOTES = {"built": "built (initialise + advance 1 day)", "advanced": "advanced 1 day", "reused": "reused"}


@dataclass(frozen=True)
class World:
    sim_dir: Path
    clock: datetime
    customers: int
    seed: int
    setup: str  # what preparing it took: "built", "advanced" or "reused"
    setup_seconds: float

    def summary(self) -> dict[str, object]:
        """Where and what the world is, as the results JSON keeps it."""
        return {
            "sim_dir": str(self.sim_dir),
            "clock": self.clock.isoformat(),
            "setup": self.setup,
            "setup_seconds": self.setup_seconds,
        }


def prepare_world(workdir: Path, customers: int, seed: int) -> World:
    """A world of `customers` advanced at least one day past its start, built only if not there."""
    from tessera_simulator import Simulator, SimulatorConfig

    log.info("preparing a world of %s customers (seed %d) in %s", f"{customers:,}", seed, workdir)
    sim_dir = workdir / f"world-c{customers}-s{seed}"
    existed = (sim_dir / "state.json").exists()
    started = time.perf_counter()
    sim = Simulator(sim_dir, SimulatorConfig(customers=customers, seed=seed, start_date=START_DATE))
    sim.initialize()
    advanced = sim.clock.date() <= START_DATE
    if advanced:
        sim.advance(days=1)
    setup = "reused" if existed and not advanced else "advanced" if existed else "built"
    world = World(sim_dir, sim.clock, customers, seed, setup, time.perf_counter() - started)
    log.info(
        "world %s in %.1f s (not part of the figures); clock %s",
        SETUP_NOTES[world.setup],
        world.setup_seconds,
        world.clock.isoformat(),
    )
    return world


def store_files(sim_dir: Path) -> list[Path]:
    """Every file behind the world's sources: the SQLite stores and the dropped web events."""
    return [sim_dir / f for f in ("crm.sqlite", "esp.sqlite", "pos.sqlite")] + sorted(
        (sim_dir / "web").glob("*/*/*/*/*.jsonl.gz")
    )
