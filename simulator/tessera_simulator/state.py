"""`state.json`: the config a simulator directory was made with, its clock and id counters."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tessera_simulator.config import SimulatorConfig

STATE_FILE = "state.json"
FORMAT = 1


@dataclass(frozen=True)
class SimState:
    config: SimulatorConfig
    clock_ms: int
    counters: dict[str, int]
    #: Folder (relative to the simulator directory) of the saved world for this clock.
    model: str
    days_advanced: int = 0


def read_state(sim_dir: Path) -> SimState | None:
    path = Path(sim_dir) / STATE_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return SimState(
            config=SimulatorConfig.from_dict(data["config"]),
            clock_ms=int(data["clock_ms"]),
            counters={k: int(v) for k, v in data["counters"].items()},
            model=str(data["model"]),
            days_advanced=int(data.get("days_advanced", 0)),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a valid simulator state file ({exc}); delete the folder to start over"
        ) from exc


def write_state(sim_dir: Path, state: SimState, clock_iso: str) -> None:
    """Replace state.json atomically, so a crash leaves the old or the new one, never half."""
    path = Path(sim_dir) / STATE_FILE
    data = {
        "format": FORMAT,
        "config": state.config.to_dict(),
        "clock": clock_iso,
        "clock_ms": state.clock_ms,
        "days_advanced": state.days_advanced,
        "counters": state.counters,
        "model": state.model,
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
