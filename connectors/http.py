"""A JSON-over-HTTP client that survives rate limits and flaky servers.

Source APIs answer 429 when we go too fast and 5xx or a dropped connection when they are
unwell. Each GET is retried with exponential backoff and jitter, honouring `Retry-After`,
and gives up with a message naming the URL and the last error. Pages are retried one by one,
so a storm in the middle of a pagination costs time, never records.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from connectors.connection import ConnectionInfo

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class SourceApiError(RuntimeError):
    """The source API refused a request for good (or kept failing): the message says which and why."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    initial_wait: float = 0.5
    max_wait: float = 30.0
    max_retry_after: float = 120.0


def retry_policy(conn: ConnectionInfo) -> RetryPolicy:
    """Retry settings from a connection's extra: `max_attempts`, `max_wait_seconds`."""
    return RetryPolicy(
        attempts=conn.option("max_attempts", 8, int), max_wait=conn.option("max_wait_seconds", 30.0, float)
    )


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in RETRYABLE_STATUS
    return isinstance(exc, httpx.TransportError)  # timeouts, refused and dropped connections


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header, given as seconds or as an HTTP date."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    date_header = response.headers.get("Date")
    now = parsedate_to_datetime(date_header) if date_header else None
    if now is None:
        return None
    return max(0.0, (when - now).total_seconds())


class ApiClient:
    """GETs JSON from one API with bearer-token auth and retries."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        name: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ):
        self.name = name
        self.retry = retry or RetryPolicy()
        headers = {"Accept": "application/json", "User-Agent": "tessera-connector"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self._backoff = wait_exponential_jitter(initial=self.retry.initial_wait, max=self.retry.max_wait)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, httpx.HTTPStatusError):
            seconds = retry_after_seconds(exc.response)
            if seconds is not None:
                return min(seconds, self.retry.max_retry_after)
        return self._backoff(state)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.1fs",
            self.name,
            state.attempt_number,
            _describe(exc),
            state.next_action.sleep if state.next_action else 0,
        )

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._client.get(path, params=params)
                    response.raise_for_status()
                    return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SourceApiError(f"{self.name}: GET {path} {params} failed: {_describe(exc)}") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        body = exc.response.text[:200]
        return f"HTTP {exc.response.status_code} {body}".strip()
    return f"{type(exc).__name__}: {exc}" if exc else "unknown error"
