"""What the benchmark smoke tests share: one benchmark command run end to end at a tiny scale, and its
JSON report; and the rows a lake holds, to compare a report's counts with."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from benchmarks.harness.children import PROJECT_ROOT
from benchmarks.harness.tables import text_table
from connectors.registry import registry


@dataclass(frozen=True)
class BenchmarkRun:
    workdir: Path
    report: dict[str, Any]
    stdout: str

    def printed(self, readme_tables: Callable[[dict[str, Any]], dict], name: str) -> bool:
        """Whether the run printed its table `name` as the README renderer makes it from the report."""
        return text_table(readme_tables(self.report)[name]) in self.stdout


@pytest.fixture
def run_benchmark(tmp_path: Path) -> Callable[..., BenchmarkRun]:
    """Run `python -m benchmarks.<name> <options> --workdir <tmp>`; the run, once it has succeeded and
    written exactly one results file."""

    def run(name: str, *options: str) -> BenchmarkRun:
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", *options, "--workdir", str(tmp_path)],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=1200,  # the DAG and incremental runs build several times; a busy machine needs the room
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        reports = list((tmp_path / "results").glob(f"{name}-*.json"))
        assert len(reports) == 1, reports
        return BenchmarkRun(tmp_path, json.loads(reports[0].read_text()), proc.stdout)

    return run


def lake_rows(lake: Path) -> dict[str, int]:
    """Rows landed in the lake's raw zone, by registered stream (`source.stream`), from the Parquet footers."""
    return {
        contract.name: sum(
            pq.ParquetFile(path).metadata.num_rows
            for path in (lake / "raw" / contract.lake_path).glob("batch_id=*/*.parquet")
        )
        for contract in registry().streams
    }
