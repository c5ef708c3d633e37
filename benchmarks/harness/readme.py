"""The tables of benchmarks/README.md, generated from the recorded results between markers:

    <!-- BEGIN GENERATED transform:stages-100000 (python -m benchmarks.report, ...) -->
    | stage | nodes | ... |
    <!-- END GENERATED -->

names the benchmark and which of its tables goes there (see each benchmark's `readme_tables`). The
prose around the tables is written by hand.

A run that names its world (`--world regional`) is recorded as `<benchmark>-<world>`, and its tables are
`<benchmark>-<world>:<table>`. Tables of `<benchmark>-worlds` put those runs side by side: the benchmark's
`world_tables` makes them from every `recorded/<benchmark>-<world>.json`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness.command import BenchmarkError
from benchmarks.harness.results import RECORDED_DIR, read_report, record, recorded_path
from benchmarks.harness.tables import Table, markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
REGION = re.compile(
    r"(?P<begin><!-- BEGIN GENERATED (?P<benchmark>[\w-]+):(?P<table>[\w-]+)\b[^>]*-->\n)(?P<body>.*?)"
    r"(?P<end><!-- END GENERATED -->)",
    re.S,
)

#: A benchmark's tables from its results JSON, by the name a README marker gives them.
ReadmeTables = Callable[[dict[str, Any]], dict[str, Table]]
#: Regions of `<benchmark>-worlds` compare the runs of a benchmark on each world.
WORLDS_SUFFIX = "-worlds"


def benchmark_of(name: str) -> str:
    """The benchmark whose module makes the tables of a region name: `transform` for `transform`,
    `transform-regional` and `transform-worlds`."""
    return name.split("-", 1)[0]


def world_reports(benchmark: str, recorded_dir: Path = RECORDED_DIR) -> dict[str, dict[str, Any]]:
    """The recorded runs of `benchmark` that named their world (`<benchmark>-<world>.json`), by world in
    alphabetical order."""
    prefix = f"{benchmark}-"
    return {path.stem[len(prefix) :]: read_report(path) for path in sorted(recorded_dir.glob(f"{prefix}*.json"))}


def recorded_tables(name: str, recorded_dir: Path = RECORDED_DIR) -> tuple[dict[str, Table], str]:
    """The tables of the regions named `name`, from the recorded results, and which file(s) they come from."""
    module = importlib.import_module(f"benchmarks.{benchmark_of(name)}")
    if name.endswith(WORLDS_SUFFIX):
        benchmark = benchmark_of(name)
        return module.world_tables(world_reports(benchmark, recorded_dir)), str(recorded_dir / f"{benchmark}-*.json")
    path = recorded_path(name, recorded_dir)
    return module.readme_tables(read_report(path)), str(path)


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


def render_world_regions(text: str, benchmark: str, report: dict[str, Any], recorded_dir: Path) -> str:
    """`text` with the regions comparing worlds (`<benchmark>-worlds`) made with `report`, a run of `benchmark`
    on one world (`<benchmark>-<world>`), in place of that world's recorded run."""
    base = benchmark_of(benchmark)
    worlds = base + WORLDS_SUFFIX
    if benchmark == base or worlds not in {name for name, _ in regions(text)}:
        return text
    reports = dict(sorted({**world_reports(base, recorded_dir), benchmark[len(base) + 1 :]: report}.items()))
    module = importlib.import_module(f"benchmarks.{base}")
    return render_regions(text, worlds, module.world_tables(reports), f"{recorded_dir / base}-*.json")


def record_results(
    results: Path,
    benchmark: str,
    readme_tables: ReadmeTables,
    readme: Path = README,
    recorded_dir: Path = RECORDED_DIR,
) -> Path:
    """Copy a run's results into benchmarks/recorded/ and rewrite the README's tables of `benchmark`
    (and those comparing its worlds) from them (`--record`); nothing changes if the README shows a table
    the run has no figures for."""
    try:
        report = read_report(results)
        text = render_regions(readme.read_text(), benchmark, readme_tables(report), str(results))
        text = render_world_regions(text, benchmark, report, recorded_dir)
    except ValueError as exc:
        raise BenchmarkError(f"not recorded: {exc}") from None
    recorded = record(results, benchmark, recorded_dir)
    readme.write_text(text)
    print(f"Recorded {recorded}; the tables of {readme} are rewritten from it")
    return recorded
