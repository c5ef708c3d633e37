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


PROC = Path("/proc")


def _descendants(root: int) -> list[int]:
    """Every live process below `root`, from each process's parent in `/proc/<pid>/stat`."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _cpu_and_peak(pid: int) -> tuple[float, float] | None:
    """A live process's CPU seconds (user + system, its threads included) and peak resident MiB (`VmHWM`)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    peak_kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return cpu, peak_kib / 1024


class ProcessTree:
    """CPU seconds and peak memory of this process together with every process it starts while measured (a
    Spark JVM, the Python workers the JVM starts). `getrusage` sees only this process and the children it has
    waited for, and a JVM serving a session is never waited for, so its descendants are sampled from `/proc`
    on a thread (Linux; elsewhere only this process counts).

    The peak is this process's `ru_maxrss` plus each descendant's own peak (`VmHWM`): an upper bound of the
    tree's resident memory at any one instant. CPU time of descendants that existed before `start` counts from
    there; a descendant's last half second before it ends can be missed."""

    def __init__(self, interval: float = 0.5) -> None:
        import threading

        self.interval = interval
        self._baseline: dict[int, float] = {}
        self._seen: dict[int, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._own_cpu = 0.0

    def _sample(self) -> None:
        if not PROC.exists():
            return
        for pid in _descendants(os.getpid()):
            figures = _cpu_and_peak(pid)
            if figures is not None:
                self._seen[pid] = figures

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> ProcessTree:
        self._sample()
        self._baseline = {pid: cpu for pid, (cpu, _) in self._seen.items()}
        self._own_cpu = cpu_seconds()
        self._thread.start()
        return self

    @property
    def processes(self) -> set[int]:
        """The ids of the other processes counted so far."""
        return set(self._seen)

    def stop(self) -> dict[str, Any]:
        """The tree's CPU seconds since `start`, its peak MiB, and how many other processes it counted."""
        self._stop.set()
        self._thread.join()
        self._sample()
        others = sum(cpu - self._baseline.get(pid, 0.0) for pid, (cpu, _) in self._seen.items())
        return {
            "cpu_seconds": cpu_seconds() - self._own_cpu + others,
            "peak_mb": peak_memory_mb() + sum(peak for _, peak in self._seen.values()),
            "processes": len(self._seen),
        }
