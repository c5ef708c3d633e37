"""Where a measured call spends its wall time: functions it calls, each timed by wrapping it in the process."""

from __future__ import annotations

import functools
import importlib
import inspect
import time
from typing import Any


class StageClock:
    """Wall time spent in named functions, each stage without the stages timed inside it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._inner: list[float] = []  # per open call: the time its timed callees took

    def _timed(self, stage: str, call):
        self._inner.append(0.0)
        started = time.perf_counter()
        try:
            return call()
        finally:
            elapsed = time.perf_counter() - started
            inner = self._inner.pop()
            self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed - inner
            if self._inner:
                self._inner[-1] += elapsed

    def wrap(self, module: str, name: str, stage: str) -> bool:
        """Time every call of `module.name` (a function, or `Class.method`) as `stage`; whether it is there."""
        owner: Any = importlib.import_module(module)
        *path, function = name.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        original = getattr(owner, function, None)
        if original is None:
            return False
        if inspect.isgeneratorfunction(original):

            @functools.wraps(original)
            def timed(*args, **kwargs):
                items = original(*args, **kwargs)
                done = object()
                while (item := self._timed(stage, lambda: next(items, done))) is not done:
                    yield item

        else:

            @functools.wraps(original)
            def timed(*args, **kwargs):
                return self._timed(stage, lambda: original(*args, **kwargs))

        setattr(owner, function, timed)
        return True
