"""A world's streams landed by the connectors into a lake, one child process per source.

The extraction benchmark times these runs; the unify benchmarks land a lake with them once per
world and reuse it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.harness.children import run_child
from benchmarks.harness.probes import measure_streams, read_through
from benchmarks.harness.world import World

log = logging.getLogger(__name__)

TOKEN_ENV = "TESSERA_BENCH_TOKEN"


# The connector run: inside a child process -------------------------------------------------------


def connection_for(source: str, sim_dir: Path, crm_url: str, esp_url: str, token: str):
    """The connection a user would configure for one simulated source (as `tests/sources.py` does)."""
    from connectors.connection import ConnectionInfo
    from connectors.registry import registry

    conn_id = registry().source(source).conn_id
    if source in ("crm", "email"):
        return ConnectionInfo(conn_id, "http", host=crm_url if source == "crm" else esp_url, password=token)
    if source == "pos":
        return ConnectionInfo(conn_id, "sqlite", extra={"url": f"sqlite:///{sim_dir / 'pos.sqlite'}"})
    return ConnectionInfo(conn_id, "fs", extra={"path": str(sim_dir / "web")})


def land_source(
    source: str,
    sim_dir: str,
    clock: str,
    out_dir: str,
    crm_url: str,
    esp_url: str,
    window_start: str | None = None,
) -> dict[str, Any]:
    """Every stream of `source` for the window [window_start, clock) into the lake in `out_dir`, timed: with
    no start, a first full load into a fresh lake; with one, the next batch on top of its cursors."""
    from connectors.base import Window
    from connectors.extraction import extract
    from connectors.registry import registry

    window = Window(datetime.fromisoformat(window_start) if window_start else None, datetime.fromisoformat(clock))
    lake, state = Path(out_dir) / "lake", Path(out_dir) / "state"
    # Configuring the streams imports the source's reading code; that stays outside the timing.
    conn = connection_for(source, Path(sim_dir), crm_url, esp_url, os.environ[TOKEN_ENV])
    configured = registry().source(source).build_streams(conn)

    def work() -> dict[str, dict[str, Any]]:
        streams = {}
        for stream in configured:
            started = time.perf_counter()
            result = extract(stream, window, lake=lake, state_dir=state)
            streams[result.stream] = {
                "rows": result.rows,
                "quarantined": result.quarantined,
                "seconds": time.perf_counter() - started,
            }
        return streams

    return measure_streams(work)


# The run: servers and one child per source -------------------------------------------------------


@contextmanager
def running_servers(sim_dir: Path, token: str) -> Iterator[tuple[str, str]]:
    """The CRM and email API stand-ins over `sim_dir`, in this process; their URLs."""
    from tessera_simulator.servers import run_servers

    with run_servers(sim_dir, token=token) as urls:
        yield urls.crm, urls.esp


def run_landing(
    source: str, world: World, out_dir: Path, urls: tuple[str, str], token: str, start: datetime | None = None
) -> dict[str, Any]:
    """One source landed by its connector in a fresh child process (the window starts at `start`); its figures."""
    return run_child(
        "benchmarks.harness.landing:land_source",
        f"the connector run for {source}",
        env={TOKEN_ENV: token},
        source=source,
        sim_dir=str(world.sim_dir),
        clock=world.clock.isoformat(),
        out_dir=str(out_dir),
        crm_url=urls[0],
        esp_url=urls[1],
        window_start=start.isoformat() if start else None,
    )


def land_streams(world: World, root: Path, start: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Every stream of every registered source landed into the home at `root`, for the window
    [start, world clock): one child process per source, the API servers in this process.
    Returns each stream's rows, quarantined records and seconds, by `source.stream`."""
    from connectors.registry import registry

    sources = list(registry().sources)
    streams: dict[str, dict[str, Any]] = {}
    token = secrets.token_hex(16)
    with running_servers(world.sim_dir, token) as urls:
        for i, source in enumerate(sources, start=1):
            log.info("  landing %s (%d/%d)…", source, i, len(sources))
            figures = run_landing(source, world, root, urls, token, start)
            for name, stream in figures["streams"].items():
                streams[f"{source}.{name}"] = stream
                log.info(
                    "  landed %s.%s: %s rows (%s quarantined) in %.1f s",
                    source,
                    name,
                    f"{stream['rows']:,}",
                    f"{stream['quarantined']:,}",
                    stream["seconds"],
                )
    return streams


# A lake landed once per world and reused ---------------------------------------------------------


@dataclass(frozen=True)
class Lake:
    root: Path  # a Tessera home: `lake/` and `state/`, and the warehouse the runs build
    setup: str  # "landed" or "reused"
    seconds: float
    streams: dict[str, dict[str, Any]]

    @property
    def rows(self) -> int:
        return sum(s["rows"] for s in self.streams.values())


def prepare_lake(workdir: Path, world: World) -> Lake:
    """Every stream of the world landed by the connectors (a first full load up to the clock),
    kept under the workdir and reused while the world's clock is the same."""
    log.info("landing every stream with the connectors (a lake already landed for this world is reused)")
    root = workdir / f"unify-c{world.customers}-s{world.seed}"
    marker = root / "landed.json"
    landed = json.loads(marker.read_text()) if marker.exists() else {}
    if landed.get("clock") == world.clock.isoformat():
        lake = Lake(root, "reused", 0.0, landed["streams"])
    else:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        started = time.perf_counter()
        streams = land_streams(world, root)
        marker.write_text(json.dumps({"clock": world.clock.isoformat(), "streams": streams}, indent=2) + "\n")
        lake = Lake(root, "landed", time.perf_counter() - started, streams)
    log.info(
        "lake %s: %s rows in %s (%.1f s, not part of the figures)",
        lake.setup,
        f"{lake.rows:,}",
        lake.root / "lake",
        lake.seconds,
    )
    return lake


def warm_lake(root: Path) -> None:
    """Read every landed file of the home at `root` once, so no run pays for a cold disk."""
    read_through(sorted((root / "lake").rglob("*.parquet")))
