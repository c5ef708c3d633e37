"""Command-line options the benchmarks share: which world sizes, seed, where, how often, and recording."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def scale_list(text: str) -> list[int]:
    return [positive_int(part) for part in text.split(",") if part.strip()]


def default_workdir() -> Path:
    return Path(os.environ.get("TESSERA_HOME") or "data") / "bench"


def add_scale_options(
    parser: argparse.ArgumentParser,
    default_scales: tuple[int, ...],
    repeat_help: str,
    *,
    several: bool = True,
    rows: bool = False,
    default_repeat: int = 3,
) -> None:
    """--customers (one or more scales; one with `several=False`), --seed, --workdir, --repeat, --record, --debug.
    With `rows`, the scale is the rows of one batch and the option is `--rows` (still `args.customers`)."""
    defaults = " ".join(str(n) for n in default_scales)
    if rows:
        parser.add_argument(
            "--rows",
            dest="customers",
            metavar="ROWS",
            type=scale_list,
            nargs="+",
            default=None,
            help=f"rows in the batch, one or more scales (space- or comma-separated; default {defaults})",
        )
    elif several:
        parser.add_argument(
            "--customers",
            type=scale_list,
            nargs="+",
            default=None,
            help=f"people in the world, one or more scales (space- or comma-separated; default {defaults})",
        )
    else:
        parser.add_argument(
            "--customers",
            type=positive_int,
            default=default_scales[0],
            help=f"people in the world (default {defaults})",
        )
    parser.add_argument("--seed", type=int, default=42, help="the world's seed (default 42)")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where worlds, lakes and results go (default $TESSERA_HOME/bench)"
    )
    parser.add_argument(
        "--repeat", type=positive_int, default=default_repeat, help=f"{repeat_help} (default {default_repeat})"
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="copy the results into benchmarks/recorded/ and rewrite the tables of benchmarks/README.md from them",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def resolve_scales(args: argparse.Namespace, default_scales: tuple[int, ...]) -> None:
    """Flatten several --customers into distinct scales in order, and fill in the work folder."""
    if not isinstance(args.customers, int):
        args.customers = list(dict.fromkeys(n for group in args.customers or [list(default_scales)] for n in group))
    if args.workdir is None:
        args.workdir = default_workdir()


def add_world_option(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """--world: which shape of simulated world to measure on (`tessera_simulator.config.WORLDS`); a benchmark
    with a `default` shape always names its world."""
    from tessera_simulator.config import WORLDS

    parser.add_argument(
        "--world",
        choices=WORLDS,
        default=default,
        help=f"the shape of the simulated world (default {default or 'diverse'}): regional is a shop's customers in"
        " a dozen towns with common surnames and households; a run that names its world records as"
        " <benchmark>-<world>",
    )
