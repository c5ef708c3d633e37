"""The test side of `tests.publication.child`: start a child, wait for its steps, kill it by pid."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class Child:
    """One `tests.publication.child` process; each step it takes is a line on its stdout."""

    def __init__(self, role: str, *args: object) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.publication.child", role, *map(str, args)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.pid = self.process.pid
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            self._lines.put(line.strip())
        self._lines.put(None)

    def next_line(self, timeout: float = 60) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"child {self.pid} said nothing for {timeout} s") from None
        if line is None:
            raise RuntimeError(f"child {self.pid} exited ({self.process.wait()}):\n{''.join(self.output)}")
        return line

    def wait_for(self, step: str, timeout: float = 60) -> None:
        """Until the child says it has done `step` (the steps before it pass by)."""
        deadline = time.monotonic() + timeout
        while self.next_line(max(deadline - time.monotonic(), 0.001)) != step:
            pass

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def ask(self, sql: str):
        """A reader child's answer to one single-value query, on the connection it opened at start."""
        self.send(" ".join(sql.split()))
        return json.loads(self.next_line())

    def kill(self) -> None:
        """SIGKILL: nothing runs in the child, as when a worker is killed."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def close(self) -> None:
        self.kill()
        if not self.process.stdin.closed:
            self.process.stdin.close()


def wait_until(condition, timeout: float = 60, every: float = 0.001, what: str = "the condition"):
    """Poll a condition instead of sleeping a fixed time: its first truthy value, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what} was not met within {timeout} s")
