"""The tables of benchmarks/README.md, generated from the recorded results between markers:

    <!-- BEGIN GENERATED transform:stages-100000 (python -m benchmarks.report, ...) -->
    | stage | nodes | ... |
    <!-- END GENERATED -->

names the benchmark and which of its tables goes there (see each benchmark's `readme_tables`). The
prose around the tables is written by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness.command import BenchmarkError
from benchmarks.harness.results import RECORDED_DIR, read_report, record
from benchmarks.harness.tables import Table, markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
REGION = re.compile(
    r"(?P<begin><!-- BEGIN GENERATED (?P<benchmark>\w+):(?P<table>[\w-]+)\b[^>]*-->\n)(?P<body>.*?)"
    r"(?P<end><!-- END GENERATED -->)",
    re.S,
)

#: A benchmark's tables from its results JSON, by the name a README marker gives them.
ReadmeTables = Callable[[dict[str, Any]], dict[str, Table]]


def render_regions(text: str, benchmark: str, tables: dict[str, Table], figures_from: str) -> str:
    """`text` with every generated region of `benchmark` holding its table from `tables`."""

    def fill(region: re.Match[str]) -> str:
        if region["benchmark"] != benchmark:
            return region[0]
        if region["table"] not in tables:
            raise ValueError(
                f"{README.name} shows the table {benchmark}:{region['table']}, which {figures_from} has no figures"
                f" for (it has {', '.join(tables) or 'none'}): record a run at that scale, or change the README"
            )
        return region["begin"] + markdown_table(tables[region["table"]]) + "\n" + region["end"]

    return REGION.sub(fill, text)


def regions(text: str) -> list[tuple[str, str]]:
    """The (benchmark, table) of every generated region, in order."""
    return [(m["benchmark"], m["table"]) for m in REGION.finditer(text)]


def record_results(
    results: Path,
    benchmark: str,
    readme_tables: ReadmeTables,
    readme: Path = README,
    recorded_dir: Path = RECORDED_DIR,
) -> Path:
    """Copy a run's results into benchmarks/recorded/ and rewrite the README's tables of `benchmark`
    from them (`--record`); nothing changes if the README shows a table the run has no figures for."""
    try:
        text = render_regions(readme.read_text(), benchmark, readme_tables(read_report(results)), str(results))
    except ValueError as exc:
        raise BenchmarkError(f"not recorded: {exc}") from None
    recorded = record(results, benchmark, recorded_dir)
    readme.write_text(text)
    print(f"Recorded {recorded}; the tables of {readme} are rewritten from it")
    return recorded
