"""A lake landed from a small simulated world, the way the extract DAGs land it: an initial load, then
daily batches in which changed records land again as new versions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tessera.catalog import STREAMS
from tessera.home import TesseraHome
from tests.sources import extract_all, running_sources


def land_simulated_lake(
    home: TesseraHome,
    sim_dir: Path,
    customers: int = 300,
    days: int = 2,
    seed: int = 7,
    after_day: Callable[[int], object] | None = None,
) -> None:
    """Initial load of every stream up to the simulator's clock, then `days` daily incremental batches;
    `after_day(day)` runs once each day has landed (day 0 is the initial load)."""
    with running_sources(sim_dir, customers=customers, seed=seed) as sources:
        sim = sources.sim
        start = None
        for day in range(days + 1):
            if day:
                sim.advance(days=1)
            for source in STREAMS:
                extract_all(sources, source, home, start, sim.clock)
            start = sim.clock
            if after_day is not None:
                after_day(day)
