"""Measured work runs in a child process of its own, so its peak memory (`ru_maxrss`) is its own.

A child is `python -m benchmarks.harness <module>:<function> <JSON keyword arguments>`: it calls the
function and prints what it returns as one JSON line (see `benchmarks/harness/__main__.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.harness.command import BenchmarkError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Starts a measured child from a small Python process. Linux folds the resident size of the
#: process that calls exec() into the new program's `ru_maxrss`, so a child started straight
#: from the benchmark (which holds the HTTP servers and the world it built) would report the
#: benchmark's peak instead of its own.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def run_child(target: str, what: str, env: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Call `target` (`module:function`) with `kwargs` in a fresh child process; the figures it returned.

    `what` names the run in the error raised when the child fails; `env` adds to this process's
    environment (for what must stay off the command line, such as a token)."""
    command = [
        *(sys.executable, "-S", "-c", LAUNCHER),
        *(sys.executable, "-m", "benchmarks.harness", target, json.dumps(kwargs, default=str)),
    ]
    proc = subprocess.run(
        command, cwd=PROJECT_ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("{"):
        tail = "\n".join((proc.stderr.strip() or proc.stdout.strip()).splitlines()[-25:])
        why = f"exit {proc.returncode}"
        if proc.returncode in (-9, 137):
            why += ", killed (by the kernel's out-of-memory killer, if memory ran out)"
        raise BenchmarkError(f"{what} failed ({why}); its last output:\n{tail or '(none)'}")
    return json.loads(lines[-1])
