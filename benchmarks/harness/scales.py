"""A benchmark run scale by scale: each scale's figures written as soon as they are in (so a smaller
scale's survive a larger one failing), printed as they come, and recorded on request."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness.command import run_command
from benchmarks.harness.options import add_scale_options, resolve_scales
from benchmarks.harness.probes import machine
from benchmarks.harness.readme import ReadmeTables, record_results
from benchmarks.harness.results import ResultsFile
from benchmarks.harness.tables import Table, text_table


@dataclass(frozen=True)
class ScaleBenchmark:
    """The command line of a benchmark that measures one or more scales (`--customers N [N ...]`)."""

    name: str
    description: str
    default_scales: tuple[int, ...]
    repeat_help: str
    #: One scale's summary, from (workdir, customers, seed, repeat).
    run_scale: Callable[[Path, int, int, int], dict[str, Any]]
    #: What the run prints above a scale's table (how its figures were taken follows).
    heading: Callable[[dict[str, Any]], str]
    #: A scale's table is `<table>-<customers>` of `readme_tables`.
    table: str
    readme_tables: ReadmeTables
    #: Printed after the last scale, before where the results went.
    footnote: str
    #: What the run prints below a scale's table, if anything.
    summary: Callable[[dict[str, Any]], str] | None = None
    #: What the results file says the run measured with, besides the results (the model, ...).
    context: Callable[[], dict[str, Any]] = field(default=dict)
    #: Runs per scale unless `--repeat` says otherwise.
    default_repeat: int = 3
    #: The tables across the scales (of `readme_tables`) the run prints at its end, when it measured several.
    across_scales: tuple[str, ...] = ("scales",)

    def main(self, argv: list[str] | None = None) -> int:
        return run_command(self.parse_args(argv), self.name, self.run)

    def parse_args(self, argv: list[str] | None) -> argparse.Namespace:
        parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{self.name}", description=self.description)
        add_scale_options(parser, self.default_scales, self.repeat_help, default_repeat=self.default_repeat)
        args = parser.parse_args(argv)
        resolve_scales(args, self.default_scales)
        return args

    def run(self, args: argparse.Namespace) -> Path:
        """Each scale in turn, then the tables across the scales (`across_scales`) where there are several;
        the path of the JSON results."""
        workdir = Path(args.workdir).resolve()
        results_file = ResultsFile(workdir, self.name, args.repeat, **self.context())
        results: list[dict[str, Any]] = []
        tables: dict[str, Table] = {}
        for customers in args.customers:
            load_at_start = machine()["load_average"]
            result = self.run_scale(workdir, customers, args.seed, args.repeat)
            results.append({**result, "load_average_at_start": load_at_start})
            tables = self.readme_tables(results_file.write(results))
            print(f"\n{self.heading(result)}; {results_file.conditions(load_at_start)}")
            print(text_table(tables[f"{self.table}-{customers}"]))
            if self.summary:
                print(self.summary(result))
            sys.stdout.flush()
        for name in self.across_scales if len(results) > 1 else ():
            if name in tables:
                print()
                print(text_table(tables[name]))
        print(f"\n{self.footnote} Results: {results_file.path}")
        if args.record:
            record_results(results_file.path, self.name, self.readme_tables)
        return results_file.path
