"""A stand-in for Meta's custom-audience users API: `POST|DELETE /[v21.0/]{audience_id}/users`.

The body is `{"payload": {"schema": ["EMAIL", "PHONE"], "data": [[sha256, sha256], ...]}}`, at most 10,000
rows. A request that cannot be read as a whole (not JSON, too many rows, a key name it does not know, a
row of the wrong length) is answered 400 and changes nothing. Otherwise each row is checked on its own: a
value that is not a SHA-256 hash (64 lower-case hex characters, or "" for "not known") makes the row an
invalid entry, counted in `num_invalid_entries` and sampled in `invalid_entry_samples` (value -> reason);
the valid rows are applied. A person is the row's non-empty (key, hash) pairs, so adding a row twice keeps
one and removing needs the same pairs. Errors have the Graph API's shape,
`{"error": {"message", "type", "code"}}`: 401 (code 190) for a missing or wrong bearer token, 404 for an
audience that was never created, 429 with `Retry-After` over the store's rate limit. `/_faults` and
`/_stats` come from `FaultMiddleware`.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import threading
import time
from collections import Counter, deque
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tessera_simulator.servers.faults import FaultInjector, FaultMiddleware

MAX_ROWS = 10_000
MAX_SAMPLES = 100  #: invalid entries named in one answer; the count covers them all
#: The multi-key schema names Meta takes hashed (EXTERN_ID and MADID are sent in clear, so not here).
HASHED_KEYS = frozenset(
    {"EMAIL", "PHONE", "FN", "LN", "FI", "GEN", "DOBY", "DOBM", "DOBD", "CT", "ST", "ZIP", "COUNTRY"}
)
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
VERSION = re.compile(r"v\d+\.\d+")

Row = tuple[tuple[str, str], ...]  #: a person: (key name, hash) pairs sorted by key name, no empty values


class AudienceStore:
    """Audiences in memory, shared by the server's threads and read by tests as plain Python data.

    `rate_limit=(calls, seconds)` answers 429 to calls beyond `calls` in any `seconds` window."""

    def __init__(self, rate_limit: tuple[int, float] | None = None):
        self._lock = threading.Lock()
        self._audiences: dict[str, set[Row]] = {}
        self._refused: dict[str, str] = {}
        self._rate_limit = rate_limit
        self._calls: deque[float] = deque()
        self._sessions = 0
        self._requests: Counter[str] = Counter()
        self._rows: Counter[str] = Counter()
        self._bytes: Counter[str] = Counter()

    def create(self, audience_id: str) -> None:
        with self._lock:
            self._audiences.setdefault(audience_id, set())

    def exists(self, audience_id: str) -> bool:
        with self._lock:
            return audience_id in self._audiences

    def members(self, audience_id: str) -> set[frozenset[tuple[str, str]]]:
        """Each member as the set of its (key name, hash) pairs, e.g. `frozenset({("EMAIL", "973d…")})`."""
        with self._lock:
            return {frozenset(row) for row in self._audiences[audience_id]}

    def size(self, audience_id: str) -> int:
        with self._lock:
            return len(self._audiences[audience_id])

    def stats(self) -> dict[str, dict[str, int]]:
        """Per method, of the calls answered 200: `requests`, `rows_received` and `bytes_received` (body)."""
        with self._lock:
            return {
                "requests": dict(self._requests),
                "rows_received": dict(self._rows),
                "bytes_received": dict(self._bytes),
            }

    def refuse(self, value: str, reason: str) -> None:
        """Make a well-formed hash an invalid entry, as the platform's own checks can; a client cannot
        send a malformed hash by mistake, so this is how tests see it handle one."""
        with self._lock:
            self._refused[value] = reason

    def accept(self, value: str) -> None:
        """Stop refusing a hash (the platform's check was lifted)."""
        with self._lock:
            self._refused.pop(value, None)

    def refusals(self) -> dict[str, str]:
        with self._lock:
            return dict(self._refused)

    def throttle(self) -> float | None:
        """Seconds until another call is allowed, or None after counting this call as allowed."""
        if self._rate_limit is None:
            return None
        calls, seconds = self._rate_limit
        with self._lock:
            now = time.monotonic()
            while self._calls and now - self._calls[0] >= seconds:
                self._calls.popleft()
            if len(self._calls) >= calls:
                return seconds - (now - self._calls[0])
            self._calls.append(now)
            return None

    def apply(self, audience_id: str, method: str, rows: list[Row], received: int, size: int) -> str:
        """Add (POST) or remove (DELETE) valid rows; returns the upload session's id."""
        with self._lock:
            audience = self._audiences[audience_id]
            if method == "POST":
                audience.update(rows)
            else:
                audience.difference_update(rows)
            self._requests[method] += 1
            self._rows[method] += received
            self._bytes[method] += size
            self._sessions += 1
            return str(self._sessions)


def graph_error(
    status: int, message: str, code: int, headers: dict[str, str] | None = None, kind: str = "OAuthException"
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": code}}, status_code=status, headers=headers
    )


def ad_audience_app(store: AudienceStore, token: str) -> FastAPI:
    """The users endpoint of the audiences in `store`, behind `Authorization: Bearer <token>`."""
    if not token:
        raise ValueError("an access token is required (got an empty one)")
    expected = f"Bearer {token}".encode()
    app = FastAPI(title="Ad audience stand-in", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.faults = FaultInjector()
    app.add_middleware(FaultMiddleware, injector=app.state.faults)

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return graph_error(
            exc.status_code,
            f"Unsupported {request.method.lower()} request: {exc.detail}",
            100,
            kind="GraphMethodException",
        )

    app.add_exception_handler(StarletteHTTPException, http_error)

    async def users(request: Request) -> JSONResponse:
        method, audience_id = request.method, request.path_params["audience_id"]
        version = request.path_params.get("version")
        if version is not None and not VERSION.fullmatch(version):
            return graph_error(400, f"Unknown path components: /{version}/{audience_id}/users", 2500)
        got = request.headers.get("authorization")
        if got is None or not hmac.compare_digest(got.encode(), expected):
            message = "An access token is required" if got is None else "Invalid OAuth access token"
            return graph_error(
                401,
                f"{message} - send 'Authorization: Bearer <token>'",
                190,
                {"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'},
            )
        wait = store.throttle()
        if wait is not None:
            return graph_error(
                429,
                "(#80003) There have been too many calls to this ad account. Wait a bit and try again.",
                80003,
                {"Retry-After": str(math.ceil(wait))},
            )
        if not store.exists(audience_id):
            return graph_error(
                404,
                f"Unsupported {method.lower()} request. Object with ID '{audience_id}' does not "
                "exist, cannot be loaded due to missing permissions, or does not support this operation",
                100,
                kind="GraphMethodException",
            )
        body = await request.body()
        try:
            schema, data = read_payload(body)
        except ValueError as exc:
            return graph_error(400, f"(#100) {exc}", 100)
        rows, invalid, samples = read_rows(schema, data, store.refusals())
        session = store.apply(audience_id, method, rows, len(data), len(body))
        return JSONResponse(
            {
                "audience_id": audience_id,
                "session_id": session,
                "num_received": len(data),
                "num_invalid_entries": invalid,
                "invalid_entry_samples": samples,
            }
        )

    for path in ("/{audience_id}/users", "/{version}/{audience_id}/users"):
        app.add_api_route(path, users, methods=["POST", "DELETE"])
    return app


def read_payload(body: bytes) -> tuple[list[str], list[list[Any]]]:
    """The schema and rows of a request, or a ValueError saying why the request as a whole is refused."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise ValueError('the body must be JSON: {"payload": {"schema": [...], "data": [[...], ...]}}') from None
    payload = doc.get("payload") if isinstance(doc, dict) else None
    if not isinstance(payload, dict):
        raise ValueError("The parameter payload is required and must be an object with schema and data")
    schema, data = payload.get("schema"), payload.get("data")
    if not isinstance(schema, list) or not schema or not all(isinstance(name, str) for name in schema):
        raise ValueError("payload.schema must be a non-empty list of key names")
    unknown = [name for name in schema if name not in HASHED_KEYS]
    if unknown:
        raise ValueError(
            f"Invalid schema key(s) {', '.join(map(repr, unknown))}; keys: {', '.join(sorted(HASHED_KEYS))}"
        )
    if len(set(schema)) != len(schema):
        raise ValueError(f"payload.schema names a key twice: {schema}")
    if not isinstance(data, list) or not data:
        raise ValueError("payload.data must be a non-empty list of rows")
    if len(data) > MAX_ROWS:
        raise ValueError(f"Too many rows: {len(data)} sent, at most {MAX_ROWS} per request")
    width = len(schema)
    bad = next((i for i, row in enumerate(data) if type(row) is not list or len(row) != width), None)
    if bad is not None:
        raise ValueError(f"payload.data[{bad}] must be a list of {width} values, one per schema key")
    return schema, data


def read_rows(
    schema: list[str], data: list[list[Any]], refused: dict[str, str]
) -> tuple[list[Row], int, dict[str, str]]:
    """The valid rows as people, the number of invalid ones, and a sample of those (value -> reason)."""
    columns = sorted((name, i) for i, name in enumerate(schema))
    rows: list[Row] = []
    invalid, samples = 0, {}
    for values in data:
        row = tuple([(name, values[i]) for name, i in columns if values[i] != ""])
        problem = row_problem(row, refused)
        if problem is None:
            rows.append(row)
            continue
        invalid += 1
        if len(samples) < MAX_SAMPLES:
            samples.setdefault(*problem)
    return rows, invalid, samples


def row_problem(row: tuple[tuple[str, Any], ...], refused: dict[str, str]) -> tuple[str, str] | None:
    """(the offending value, why) for an invalid entry, or None."""
    if not row:
        return "", "The row has no value for any key of the schema"
    for name, value in row:
        if type(value) is not str or not SHA256_HEX.fullmatch(value):
            return str(value), f"Invalid {name} value: expected a SHA-256 hash, 64 lower-case hex characters"
        if refused and value in refused:
            return value, refused[value]
    return None
