"""`python -m benchmarks.report`: rewrite the tables of benchmarks/README.md from benchmarks/recorded/.

Each benchmark's recorded results (`benchmarks/recorded/<benchmark>.json`, written by a run with
`--record`) fill the README's generated regions for that benchmark, through the same tables the
run prints; a run on a named world (`<benchmark>-<world>.json`) fills its own, and the regions of
`<benchmark>-worlds` compare the worlds. `--check` only says whether the README is current (exit
status 1 if not).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.harness.readme import README, recorded_tables, regions, render_regions
from benchmarks.harness.results import RECORDED_DIR

#: Whose recorded figures the README shows: each benchmark's, the transform, transform DAG and incremental
#: benchmarks' on the regional world, the transform benchmark's worlds side by side, and the engines benchmark's
#: (on the regional world, its default).
BENCHMARKS = (
    "extraction",
    "transform",
    "transform-regional",
    "transform-worlds",
    "transform_dag",
    "transform_dag-regional",
    "incremental",
    "incremental-regional",
    "matching",
    "checks",
    "activation",
    "predictions",
    "predictors_scale",
    "engines-regional",
)


def render_readme(text: str, recorded_dir: Path = RECORDED_DIR) -> str:
    """`text` (the README) with every generated region filled from the recorded results."""
    unknown = sorted({name for name, _ in regions(text)} - set(BENCHMARKS))
    if unknown:
        raise ValueError(f"{README.name} has generated regions of unknown benchmarks: {', '.join(unknown)}")
    for name in dict.fromkeys(name for name, _ in regions(text)):
        text = render_regions(text, name, *recorded_tables(name, recorded_dir))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the README's tables are current")
    args = parser.parse_args(argv)
    try:
        text = README.read_text()
        rendered = render_readme(text)
    except ValueError as exc:
        print(f"benchmarks.report: {exc}", file=sys.stderr)
        return 1
    if args.check:
        if rendered != text:
            print(f"{README}: tables are stale; run `python -m benchmarks.report`", file=sys.stderr)
            return 1
        return 0
    if rendered != text:
        README.write_text(rendered)
    print(f"{README}: {len(regions(rendered))} tables from {RECORDED_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
