"""What every benchmark's command line does the same way: a measured child runs its work and prints one
JSON line; the parent logs progress and ends with a one-line error (a traceback with `--debug`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable


def run_command(
    args: argparse.Namespace,
    name: str,
    child_main: Callable[[argparse.Namespace], int],
    run_benchmark: Callable[[argparse.Namespace], object],
    errors: tuple[type[BaseException], ...],
    progress_from: tuple[str, ...],
) -> int:
    """Run `benchmarks.<name>` as a child (`--child`) or as the benchmark; the exit status."""
    if args.child:
        return child_main(args)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    for logger in progress_from:
        logging.getLogger(logger).setLevel(logging.INFO)
    try:
        run_benchmark(args)
    except errors as exc:
        if args.debug:
            raise
        logging.getLogger(f"benchmarks.{name}").error("%s benchmark failed: %s", name, exc)
        return 1
    return 0
