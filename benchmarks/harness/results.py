"""The results JSON a benchmark run writes, and the recorded copy the README's tables come from.

A run writes `<workdir>/results/<benchmark>-<UTC timestamp>.json` (rewritten after each scale, so a
smaller scale's figures survive a larger one failing). `--record` copies it to
`benchmarks/recorded/<benchmark>.json`, which is checked in: results folders are not.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.harness.probes import machine

RECORDED_DIR = Path(__file__).resolve().parents[1] / "recorded"


class ResultsFile:
    """One run's results file: what it ran on, and its results so far."""

    def __init__(self, workdir: Path, benchmark: str, repeat: int, **context: Any):
        self.benchmark = benchmark
        self.started_at = datetime.now(UTC)
        self.machine = machine()
        self.repeat = repeat
        self.context = context  # what the run measured on, besides the results (world, model, ...)
        self.path = workdir / "results" / f"{benchmark}-{self.started_at:%Y%m%dT%H%M%SZ}.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def conditions(self, load: list[float] | None) -> str:
        """How the figures were taken, for a heading: `median of 3 runs; 2 CPUs, load 2.30 at the start`."""
        note = f"median of {self.repeat} run{'s' if self.repeat > 1 else ''}; {self.machine['cpus']} CPUs"
        return note + (f", load {load[0]:.2f} at the start" if load else "")

    def write(self, results: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
        """Write the results so far (and more `context`, known once the run is under way); the report."""
        report = {
            "benchmark": self.benchmark,
            "started_at": self.started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "machine": {**self.machine, "load_average_after": machine()["load_average"]},
            **self.context,
            **context,
            "repeat": self.repeat,
            "statistic": "median",
            "results": results,
        }
        self.path.write_text(json.dumps(report, indent=2) + "\n")
        return report


def recorded_path(benchmark: str, recorded_dir: Path = RECORDED_DIR) -> Path:
    return recorded_dir / f"{benchmark}.json"


def read_report(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read benchmark results {path}: {exc}") from None


def record(results: Path, benchmark: str, recorded_dir: Path = RECORDED_DIR) -> Path:
    """Copy a run's results file to the recorded one; where it went."""
    target = recorded_path(benchmark, recorded_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(results, target)
    return target
