"""What a benchmark reads about the process it runs in and the machine: CPU time, peak memory, load."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def peak_memory_mb() -> float:
    """This process's peak resident set size (`ru_maxrss` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_call(call: Callable[[], Any], profile: str | None = None) -> tuple[Any, float, float]:
    """`call()`'s result, wall seconds and CPU seconds; with `profile`, run under cProfile and its stats
    written there (the seconds then include the profiler's overhead)."""
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    cpu, started = cpu_seconds(), time.perf_counter()
    if profiler:
        profiler.enable()
    result = call()
    if profiler:
        profiler.disable()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    if profiler:
        profiler.dump_stats(profile)
    return result, seconds, cpu


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def read_through(paths: Iterable[Path]) -> None:
    """Read every file once, so no measured run pays for a cold disk."""
    for path in paths:
        if path.exists():
            with open(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass


def warm_up_pyarrow() -> None:
    """Pay pyarrow's one-time lazy imports (its first conversion imports pandas, about a second)
    before the clock starts, as every measured side would otherwise pay them."""
    import pyarrow as pa

    pa.array([0])


#: A piece of measured work: reads or extracts streams, returning per-stream figures (`rows`, `seconds`, ...).
StreamWork = Callable[[], dict[str, dict[str, Any]]]


def measure_streams(work: StreamWork) -> dict[str, Any]:
    """Time one piece of work: wall and CPU seconds, totals over its streams, and the process's peak memory."""
    warm_up_pyarrow()
    cpu, started = cpu_seconds(), time.perf_counter()
    streams = work()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rows": sum(s["rows"] for s in streams.values()),
        "quarantined": sum(s.get("quarantined", 0) for s in streams.values()),
        "peak_mb": peak_memory_mb(),
        "streams": streams,
    }
