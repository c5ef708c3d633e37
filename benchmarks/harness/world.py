"""A simulated world at one scale, built once in the work folder and reused by every benchmark.

A world has a shape (`tessera_simulator.config.WORLDS`): the default, diverse one, or the regional one
(a dozen towns, common surnames, households). The diverse world lives in the work folder itself, as it
always has, so worlds built before shapes existed are reused; another shape gets a folder of its own
(`<workdir>/<shape>/`), and everything made from it (lakes, copies, profile records) goes there too, so
the two never share a folder.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.harness.command import run_command
from benchmarks.harness.options import add_scale_options, add_world_option, resolve_scales
from benchmarks.harness.scales import ScaleBenchmark

log = logging.getLogger(__name__)

START_DATE = date(2026, 1, 1)
#: The simulator's default shape (`SimulatorConfig.world`), whose worlds live in the work folder itself.
DEFAULT_WORLD = "diverse"
SETUP_NOTES = {"built": "built (initialise + advance 1 day)", "advanced": "advanced 1 day", "reused": "reused"}


@dataclass(frozen=True)
class World:
    sim_dir: Path
    clock: datetime
    customers: int
    seed: int
    setup: str  # what preparing it took: "built", "advanced" or "reused"
    setup_seconds: float
    shape: str = DEFAULT_WORLD

    @property
    def workdir(self) -> Path:
        """Where everything made from this world goes (its lake, copies, profile records)."""
        return self.sim_dir.parent

    def summary(self) -> dict[str, object]:
        """Where and what the world is, as the results JSON keeps it."""
        return {
            "shape": self.shape,
            "sim_dir": str(self.sim_dir),
            "clock": self.clock.isoformat(),
            "setup": self.setup,
            "setup_seconds": self.setup_seconds,
        }


def world_workdir(workdir: Path, shape: str) -> Path:
    """The folder a world of `shape` and everything made from it live in."""
    return workdir if shape == DEFAULT_WORLD else workdir / shape


def prepare_world(workdir: Path, customers: int, seed: int, shape: str = DEFAULT_WORLD) -> World:
    """A world of `customers` and `shape` advanced at least one day past its start, built only if not there."""
    from tessera_simulator import Simulator, SimulatorConfig

    sim_dir = world_workdir(workdir, shape) / f"world-c{customers}-s{seed}"
    log.info("preparing a %s world of %s customers (seed %d) in %s", shape, f"{customers:,}", seed, sim_dir)
    existed = (sim_dir / "state.json").exists()
    started = time.perf_counter()
    sim = Simulator(sim_dir, SimulatorConfig(customers=customers, seed=seed, start_date=START_DATE, world=shape))
    sim.initialize()
    advanced = sim.clock.date() <= START_DATE
    if advanced:
        sim.advance(days=1)
    setup = "reused" if existed and not advanced else "advanced" if existed else "built"
    world = World(sim_dir, sim.clock, customers, seed, setup, time.perf_counter() - started, shape)
    log.info(
        "world %s in %.1f s (not part of the figures); clock %s",
        SETUP_NOTES[world.setup],
        world.setup_seconds,
        world.clock.isoformat(),
    )
    return world


def recorded_name(benchmark: str, shape: str | None) -> str:
    """What a run's results are recorded as: `<benchmark>` without `--world` (the diverse world, as before
    worlds had shapes), `<benchmark>-<shape>` for a run that names its world."""
    return benchmark if shape is None else f"{benchmark}-{shape}"


def main_on_a_world(
    benchmark: ScaleBenchmark,
    argv: list[str] | None,
    options: Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], dict[str, Any]]] | None = None,
    default_world: str | None = None,
) -> int:
    """`benchmark`'s command line with `--world`: each scale's `run_scale` gets the shape (`shape=`), and the
    results are named after it (`recorded_name`). `options` adds a benchmark's own options to the parser and
    returns what turns them into more keyword arguments of `run_scale`. With `default_world`, a run without
    `--world` is on that shape, and named after it."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{benchmark.name}", description=benchmark.description)
    add_scale_options(parser, benchmark.default_scales, benchmark.repeat_help, default_repeat=benchmark.default_repeat)
    add_world_option(parser, default_world)
    own_arguments = options(parser) if options else (lambda args: {})
    args = parser.parse_args(argv)
    resolve_scales(args, benchmark.default_scales)
    on_world = replace(
        benchmark,
        name=recorded_name(benchmark.name, args.world),
        run_scale=partial(benchmark.run_scale, shape=args.world or DEFAULT_WORLD, **own_arguments(args)),
    )
    return run_command(args, on_world.name, on_world.run)


def store_files(sim_dir: Path) -> list[Path]:
    """Every file behind the world's sources: the SQLite stores and the dropped web events."""
    return [sim_dir / f for f in ("crm.sqlite", "esp.sqlite", "pos.sqlite")] + sorted(
        (sim_dir / "web").glob("*/*/*/*/*.jsonl.gz")
    )
