"""A lake landed from a small simulated world, the way the extract DAGs land it: an initial load, then
daily batches in which changed records land again as new versions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tessera.home import TesseraHome
from tests.sources import running_sources, simulated_days


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
        for day in simulated_days(sources, home, days, initial_load=True):
            if after_day is not None:
                after_day(day)
