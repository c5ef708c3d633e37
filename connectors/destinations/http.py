"""Sending to a destination's HTTP API: retries, rate limits and honest failures.

A 429 is the destination pacing us, not a failure: the client waits what `Retry-After` says (or backs
off) and sends again, for as long as `max_throttle_seconds` allows. A 5xx, a 408 or a dropped connection
is retried with exponential backoff and jitter, up to `max_attempts`. Any other answer (2xx, 4xx) is
returned for the connector to read: only it knows whether a 400 names a bad record. `RateLimit` keeps
calls under a destination's documented limit (HubSpot: 100 calls per 10 seconds) before it has to say so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from connectors.connection import ConnectionInfo
from connectors.destinations.base import DestinationError
from connectors.http import retry_after_seconds

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class RateLimit:
    """At most `calls` requests in any `per_seconds` window (a sliding window), shared by threads."""

    def __init__(self, calls: int, per_seconds: float, clock=time.monotonic, sleep=time.sleep):
        self.calls, self.per_seconds = calls, per_seconds
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.per_seconds:
                    self._sent.popleft()
                if len(self._sent) < self.calls:
                    self._sent.append(now)
                    return
                wait = self.per_seconds - (now - self._sent[0])
            self._sleep(max(wait, 0.001))


class _Retryable(Exception):
    def __init__(self, response: httpx.Response | None = None, error: Exception | None = None):
        super().__init__(str(error) if error else f"HTTP {response.status_code if response else '?'}")
        self.response, self.error = response, error


class DestinationClient:
    """JSON requests to one destination API, with the connection's auth headers, retries and rate limit."""

    def __init__(
        self,
        conn: ConnectionInfo,
        *,
        name: str,
        headers: dict[str, str] | None = None,
        rate: RateLimit | None = None,
        timeout: float = 30.0,
    ):
        self.name = name
        self.rate = rate
        self.max_attempts = conn.option("max_attempts", 6, int)
        self.max_wait = conn.option("max_wait_seconds", 30.0, float)
        self.max_throttle = conn.option("max_throttle_seconds", 600.0, float)
        self.retried = 0  #: requests sent again (after a 429, a 5xx or a dropped connection)
        self._client = httpx.Client(
            base_url=conn.base_url(),
            headers={"Accept": "application/json", "User-Agent": "tessera-sync", **(headers or {})},
            timeout=timeout,
        )
        initial = conn.option("initial_wait_seconds", 0.5, float)
        self._backoff = wait_exponential_jitter(multiplier=initial, max=self.max_wait, jitter=initial)

    def request(
        self, method: str, path: str, *, json: Any = None, content: bytes | None = None, **kwargs
    ) -> httpx.Response:
        """Send one request until it gets an answer that is not a 429, a 5xx or a dropped connection.

        Returns that answer (2xx or 4xx); raises `DestinationError` naming the call and the last error when
        the attempts, or the time allowed for throttling, run out."""
        failures, throttled = 0, 0.0

        def stop(state: RetryCallState) -> bool:
            return failures >= self.max_attempts or throttled > self.max_throttle

        def wait(state: RetryCallState) -> float:
            nonlocal throttled
            exc = state.outcome.exception() if state.outcome else None
            response = exc.response if isinstance(exc, _Retryable) else None
            if response is not None and response.status_code == 429:
                seconds = retry_after_seconds(response)
                seconds = self._backoff(state) if seconds is None else seconds
                throttled += seconds
                return seconds
            return self._backoff(state)

        def before_sleep(state: RetryCallState) -> None:
            self.retried += 1
            log.info("%s: %s %s: %s; sending again in %.1fs", self.name, method, path, state.outcome.exception(),
                     state.next_action.sleep if state.next_action else 0)  # fmt: skip

        retrying = Retrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            stop=stop,
            wait=wait,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if self.rate:
                        self.rate.acquire()
                    try:
                        response = self._client.request(method, path, json=json, content=content, **kwargs)
                    except httpx.TransportError as exc:  # refused, reset, timed out, cut mid-answer
                        failures += 1
                        raise _Retryable(error=exc) from exc
                    if response.status_code in RETRYABLE_STATUS:
                        if response.status_code != 429:
                            failures += 1
                        raise _Retryable(response=response)
                    return response
        except _Retryable as exc:
            last = exc.error or f"HTTP {exc.response.status_code} {exc.response.text[:200]}".strip()
            raise DestinationError(f"{self.name}: {method} {path} failed after {self.retried} retries: {last}") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._client.close()
