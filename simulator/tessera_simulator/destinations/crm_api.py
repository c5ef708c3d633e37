"""A HubSpot-style CRM that takes contacts: `POST /crm/v3/objects/contacts/batch/upsert`, matched by e-mail.

It checks what HubSpot checks: a private-app bearer token; at most 100 inputs a call, each with a unique
id; e-mails that look like addresses; properties that exist on the portal and values of their type. One bad
input refuses the whole batch with a 400 whose `errors` name it (`context.id`). Callers are paced by a
rolling window (HubSpot's TEN_SECONDLY_ROLLING limit): beyond it the answer is 429 with `Retry-After`.
Contacts live in memory (`CrmStore`), keyed by lower-cased e-mail, so a batch applied twice leaves one
contact per e-mail. `POST /crm/v3/objects/contacts/gdpr-delete` (`{"objectId": <e-mail>, "idProperty":
"email"}`, or a contact id without `idProperty`) deletes a contact for good and answers 204; as HubSpot, an
e-mail it does not know is blocklisted all the same, and a blocklisted e-mail is refused by later upserts.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tessera_simulator.servers.faults import FaultInjector, FaultMiddleware

UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
GDPR_DELETE_PATH = "/crm/v3/objects/contacts/gdpr-delete"
MAX_INPUTS = 100
MAX_VALUE_LENGTH = 65_536
PROPERTY_TYPES = ("string", "number", "bool")
EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)*\.[A-Za-z]{2,}$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
NO_TOKEN = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class HubSpotError(Exception):
    """An error answer in HubSpot's shape: status, category, message and, for batches, per-input errors."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: str,
    ):
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        self.body: dict[str, Any] = {"status": "error", "message": message, "correlationId": str(uuid.uuid4())}
        self.body |= {"category": category} if category else {}
        self.body |= extra
        if errors:
            self.body["errors"] = errors


class CrmStore:
    """The portal's contact properties (name -> "string", "number" or "bool") and its contacts, shared by the
    server's threads. `properties` may be names only (all strings); `email` always exists."""

    def __init__(self, properties: Mapping[str, str] | Iterable[str]):
        types = dict(properties) if isinstance(properties, Mapping) else dict.fromkeys(properties, "string")
        unknown = {name: kind for name, kind in types.items() if kind not in PROPERTY_TYPES}
        if unknown:
            raise ValueError(f"property types must be one of {', '.join(PROPERTY_TYPES)}; got {unknown}")
        self.properties: Mapping[str, str] = {**types, "email": "string"}
        self._lock = threading.Lock()
        self._contacts: dict[str, dict[str, Any]] = {}  # lower-case e-mail -> {"id", "properties", ...}
        self._blocklisted: set[str] = set()
        self._next_id = 1001

    def gdpr_delete(self, object_id: str, id_property: str | None) -> bool:
        """Delete a contact by e-mail or by id and blocklist its e-mail; False when no contact matched."""
        with self._lock:
            if id_property == "email":
                email = object_id.strip().lower()
            else:
                email = next((e for e, c in self._contacts.items() if c["id"] == object_id), None)
                if email is None:
                    return False
            self._blocklisted.add(email)
            return self._contacts.pop(email, None) is not None

    def blocklisted(self) -> set[str]:
        """E-mails deleted under GDPR (or asked to be), which the portal refuses from now on."""
        with self._lock:
            return set(self._blocklisted)

    def contacts(self) -> dict[str, dict[str, str]]:
        """Every contact's properties (strings, as HubSpot keeps them) by e-mail, `hs_object_id` included."""
        with self._lock:
            return {email: dict(contact["properties"]) for email, contact in self._contacts.items()}

    def upsert(self, inputs: list[tuple[str, dict[str, str]]]) -> list[dict[str, Any]]:
        """Create or update contacts by e-mail in one step; returns them as the batch answer lists them."""
        now = _now()
        out = []
        with self._lock:
            for email, properties in inputs:
                contact = self._contacts.get(email)
                created = contact is None
                if created:
                    contact = {"id": str(self._next_id), "properties": {}, "createdAt": now}
                    contact["properties"]["hs_object_id"] = contact["id"]
                    self._next_id += 1
                    self._contacts[email] = contact
                contact["properties"].update(properties, email=email)
                contact["updatedAt"] = now
                out.append(
                    {
                        "id": contact["id"],
                        "properties": dict(contact["properties"]),
                        "createdAt": contact["createdAt"],
                        "updatedAt": now,
                        "archived": False,
                        "new": created,
                    }
                )
        return sorted(out, key=lambda result: result["properties"]["email"])  # not the input order, as HubSpot


class RollingWindow:
    """At most `calls` requests admitted in any `seconds`; refused ones are counted for tests."""

    def __init__(self, calls: int, seconds: float):
        self.calls, self.seconds = calls, seconds
        self.refused = 0
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> float | None:
        """None when the request may go on, else the seconds until the window has room again."""
        with self._lock:
            now = time.monotonic()
            while self._admitted and now - self._admitted[0] >= self.seconds:
                self._admitted.popleft()
            if len(self._admitted) < self.calls:
                self._admitted.append(now)
                return None
            self.refused += 1
            return self.seconds - (now - self._admitted[0])


def crm_app(store: CrmStore, token: str, calls_per_10s: int = 100, window_seconds: float = 10.0) -> FastAPI:
    """The contacts batch-upsert API over `store`, plus `/_faults` and `/_stats`. `app.state.rate_limit` is
    the `RollingWindow` (its `refused` counts the 429s it answered); `window_seconds` is shorter in tests."""
    if not token:
        raise ValueError("an access token is required (got an empty one)")
    expected = f"Bearer {token}".encode()

    def authenticate(request: Request) -> None:
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected):
            raise HubSpotError(401, "INVALID_AUTHENTICATION", NO_TOKEN)

    def within_rate_limit(request: Request) -> None:
        wait = request.app.state.rate_limit.admit()
        if wait is not None:
            raise HubSpotError(
                429,
                "",
                "You have reached your ten_secondly_rolling limit.",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
                errorType="RATE_LIMIT",
                policyName="TEN_SECONDLY_ROLLING",
            )

    app = FastAPI(
        title="CRM destination stand-in",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(authenticate), Depends(within_rate_limit)],
    )
    app.state.rate_limit = RollingWindow(calls_per_10s, window_seconds)
    app.state.faults = FaultInjector()
    app.add_middleware(FaultMiddleware, injector=app.state.faults)

    @app.exception_handler(HubSpotError)
    async def hubspot_error(request: Request, exc: HubSpotError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.post(UPSERT_PATH)
    async def batch_upsert(request: Request) -> dict[str, Any]:
        started = _now()
        results = store.upsert(_validated(_read_inputs(await request.body()), store.properties, store.blocklisted()))
        return {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": _now()}

    @app.post(GDPR_DELETE_PATH, status_code=204)
    async def gdpr_delete(request: Request) -> Response:
        try:
            doc = json.loads(await request.body())
        except ValueError as exc:
            raise HubSpotError(400, "VALIDATION_ERROR", f"Invalid input JSON: {exc}") from None
        object_id = doc.get("objectId") if isinstance(doc, dict) else None
        id_property = doc.get("idProperty") if isinstance(doc, dict) else None
        if not isinstance(object_id, str) or not object_id or id_property not in (None, "email"):
            raise HubSpotError(
                400, "VALIDATION_ERROR", "Invalid input JSON: objectId is required; idProperty may only be email"
            )
        if not store.gdpr_delete(object_id, id_property) and id_property != "email":
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"resource not found: contact {object_id}")
        return Response(status_code=204)

    return app


def _read_inputs(body: bytes) -> list[dict[str, Any]]:
    """The `inputs` of a batch, or the 400 HubSpot answers for a body it cannot read."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise HubSpotError(400, "VALIDATION_ERROR", f"Invalid input JSON: {exc}") from None
    inputs = doc.get("inputs") if isinstance(doc, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object with an 'inputs' array")
    if len(inputs) > MAX_INPUTS:
        raise HubSpotError(
            400, "VALIDATION_ERROR", f"Batch input limit exceeded: {len(inputs)} inputs, at most {MAX_INPUTS}"
        )
    for item in inputs:
        properties = item.get("properties", {})
        if not isinstance(item.get("id"), str) or not isinstance(properties, dict):
            raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: each input needs a string 'id'")
        if any(isinstance(value, dict | list) for value in properties.values()):
            raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: property values must be strings")
    return inputs


def _validated(
    inputs: list[dict[str, Any]], types: Mapping[str, str], blocklisted: set[str] = frozenset()
) -> list[tuple[str, dict[str, str]]]:
    """(e-mail, properties as strings) per input, or one 400 naming every input that is not valid."""
    emails = [item["id"].strip().lower() for item in inputs]
    duplicates = sorted({email for email in emails if emails.count(email) > 1})
    if duplicates:
        raise HubSpotError(
            400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
        )
    valid, errors = [], []
    for item, email in zip(inputs, emails, strict=True):
        properties = {name: _as_string(value) for name, value in item.get("properties", {}).items()}
        problems = []
        if item.get("idProperty") != "email":
            message = f"idProperty must be a unique property such as email, got {item.get('idProperty')!r}"
            problems.append(_problem("idProperty", "INVALID_ID_PROPERTY", message))
        if not EMAIL.match(email):
            problems.append(_problem("email", "INVALID_EMAIL", f"Email address {item['id']} is invalid"))
        elif email in blocklisted:
            message = f"Email address {item['id']} was deleted under GDPR and is blocklisted"
            problems.append(_problem("email", "BLOCKLISTED_EMAIL", message))
        problems += [p for name, value in properties.items() if (p := _property_problem(name, value, types))]
        if problems:
            message = f"Property values were not valid: {json.dumps(problems)}"
            errors.append({"message": message, "context": {"id": [item["id"]]}})
        valid.append((email, properties))
    if errors:
        summary = errors[0]["message"] if len(errors) == 1 else f"{len(errors)} inputs were not valid"
        raise HubSpotError(400, "VALIDATION_ERROR", summary, errors)
    return valid


def _property_problem(name: str, value: str, types: Mapping[str, str]) -> dict[str, Any] | None:
    kind = types.get(name)
    if kind is None:
        return _problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
    if len(value) > MAX_VALUE_LENGTH:
        return _problem(name, "INVALID_LENGTH", f"{len(value)} characters; a value has at most {MAX_VALUE_LENGTH}")
    if value and kind == "number" and not NUMBER.match(value):
        return _problem(name, "INVALID_DOUBLE", f"{value} was not a valid number.")
    if value and kind == "bool" and value not in ("true", "false"):
        return _problem(name, "INVALID_BOOLEAN", f"{value} was not a valid boolean (true or false).")
    return None


def _problem(name: str, error: str, message: str) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": error, "name": name}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_string(value: Any) -> str:
    """A property value as HubSpot reads it: JSON numbers and booleans as their text, null as a clear."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)
