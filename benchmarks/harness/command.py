"""What every benchmark's command line does the same way: log progress, and end with a one-line error
(a traceback with `--debug`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable


class BenchmarkError(Exception):
    """A benchmark step failed; the message says which and what the child printed."""


#: What a benchmark shows as one line rather than a traceback.
EXPECTED_ERRORS = (BenchmarkError, ValueError, OSError, RuntimeError)


def run_command(args: argparse.Namespace, name: str, run_benchmark: Callable[[argparse.Namespace], object]) -> int:
    """Run `benchmarks.<name>` with progress from every `benchmarks` logger on stderr; the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("benchmarks").setLevel(logging.INFO)
    try:
        run_benchmark(args)
    except EXPECTED_ERRORS as exc:
        if args.debug:
            raise
        logging.getLogger(f"benchmarks.{name}").error("%s benchmark failed: %s", name, exc)
        return 1
    return 0
