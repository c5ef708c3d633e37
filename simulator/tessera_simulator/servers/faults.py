"""Fault injection at the protocol level, for testing how clients cope with a flaky API.

`POST /_faults` queues a rule: after `after` more matching requests succeed, the next
`times` matching requests fail: with an HTTP status (mode "status"); by starting a 200
response and cutting the connection mid-body without serving the request (mode "drop"); or
by serving the request in full and then cutting the connection before the answer, so that
the server applied what the client never hears about (mode "lost"); or by serving the
request in full and holding the answer back for `delay` seconds (mode "slow"), which gives
a test the moment between a destination applying a request and the client hearing of it,
to kill the client in. Rules apply
in the order they were queued. `DELETE /_faults` clears them; `GET /_stats` counts
requests per path and faults served. None of these need the bearer token.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)
CONTROL_PATHS = ("/_faults", "/_stats")
MODES = ("status", "drop", "lost", "slow")


class InjectedConnectionDrop(Exception):
    """Raised mid-response so the server closes the connection, as a network failure would."""


class _HideInjectedDrops(logging.Filter):
    """The server logs an unhandled exception for every drop; these ones are on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InjectedConnectionDrop)


_server_log = logging.getLogger("uvicorn.error")
if not any(isinstance(f, _HideInjectedDrops) for f in _server_log.filters):
    _server_log.addFilter(_HideInjectedDrops())


@dataclass
class FaultRule:
    path_prefix: str = "/"
    after: int = 0
    times: int = 1
    status: int = 500
    retry_after: float | None = None
    mode: str = "status"
    delay: float = 0.0

    @classmethod
    def from_json(cls, body: Any) -> FaultRule:
        """Validate a rule from a request body; raises ValueError naming the bad field."""
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        unknown = set(body) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        rule = cls(**body)
        if not isinstance(rule.path_prefix, str) or not rule.path_prefix.startswith("/"):
            raise ValueError(f"path_prefix must be a path starting with '/', got {rule.path_prefix!r}")
        for name, low in (("after", 0), ("times", 1)):
            value = getattr(rule, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if isinstance(rule.status, bool) or not isinstance(rule.status, int) or not 100 <= rule.status <= 599:
            raise ValueError(f"status must be an HTTP status code (100-599), got {rule.status!r}")
        if rule.retry_after is not None and (
            isinstance(rule.retry_after, bool) or not isinstance(rule.retry_after, int | float) or rule.retry_after < 0
        ):
            raise ValueError(f"retry_after must be a number of seconds >= 0 or null, got {rule.retry_after!r}")
        if isinstance(rule.delay, bool) or not isinstance(rule.delay, int | float) or rule.delay < 0:
            raise ValueError(f"delay must be a number of seconds >= 0, got {rule.delay!r}")
        if rule.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {rule.mode!r}")
        return rule


class FaultInjector:
    """Queued fault rules and request counters, safe to share between server threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._requests: dict[str, int] = {}
        self._faults_served = 0

    def add(self, rule: FaultRule) -> int:
        with self._lock:
            self._rules.append(rule)
            return len(self._rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(r) for r in self._rules]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": dict(self._requests), "faults_served": self._faults_served}

    def on_request(self, path: str) -> FaultRule | None:
        """Count the request and return the rule it must fail with, if any."""
        with self._lock:
            self._requests[path] = self._requests.get(path, 0) + 1
            for i, rule in enumerate(self._rules):
                if not path.startswith(rule.path_prefix):
                    continue
                if rule.after > 0:
                    rule.after -= 1
                    return None
                rule.times -= 1
                if rule.times == 0:
                    del self._rules[i]
                self._faults_served += 1
                return FaultRule(**asdict(rule))
            return None


class FaultMiddleware:
    """ASGI middleware that serves the control endpoints and applies queued faults."""

    def __init__(self, app: ASGIApp, injector: FaultInjector):
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in CONTROL_PATHS:
            response = await self._control(Request(scope, receive), path)
            await response(scope, receive, send)
            return
        rule = self.injector.on_request(path)
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.mode == "status":
            headers = {} if rule.retry_after is None else {"Retry-After": _seconds(rule.retry_after)}
            body = {"message": f"injected fault: HTTP {rule.status} for {path}"}
            await JSONResponse(body, status_code=rule.status, headers=headers)(scope, receive, send)
        elif rule.mode == "slow":
            messages: list[dict] = []

            async def hold(message: dict) -> None:
                messages.append(message)

            await self.app(scope, receive, hold)  # applied now, answered after the delay
            await asyncio.sleep(rule.delay)
            for message in messages:
                await send(message)
        elif rule.mode == "lost":
            await self.app(scope, receive, _discard)  # applied: the answer never leaves the server
            await self._drop(send, path)
        else:
            await self._drop(send, path)

    async def _drop(self, send: Send, path: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"65536")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"results": [{"id": "', "more_body": True})
        raise InjectedConnectionDrop(f"injected connection drop for {path}")

    async def _control(self, request: Request, path: str) -> JSONResponse:
        if path == "/_stats":
            if request.method != "GET":
                return JSONResponse({"message": "use GET /_stats"}, status_code=405)
            return JSONResponse(self.injector.stats())
        if request.method == "DELETE":
            self.injector.clear()
            return JSONResponse({"rules": 0})
        if request.method == "GET":
            return JSONResponse({"rules": self.injector.rules()})
        if request.method != "POST":
            return JSONResponse({"message": "use POST, GET or DELETE /_faults"}, status_code=405)
        try:
            rule = FaultRule.from_json(await request.json())
        except ValueError as exc:  # includes invalid JSON
            return JSONResponse({"message": f"invalid fault rule: {exc}"}, status_code=400)
        except TypeError as exc:
            return JSONResponse({"message": f"invalid fault rule: {exc}"}, status_code=400)
        queued = self.injector.add(rule)
        log.info("fault rule queued", extra={"rule": asdict(rule), "queued": queued})
        return JSONResponse({"queued": asdict(rule), "rules": queued}, status_code=201)


async def _discard(message: dict) -> None:
    """An ASGI `send` that loses what the app answers."""


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
