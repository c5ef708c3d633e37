"""A Mailchimp-style audience that takes members: batch subscribe, static segments and archiving.

The Marketing API calls a sync needs, answering as Mailchimp documents them: `POST /3.0/lists/{list_id}`
subscribes or updates up to 500 members and reports each one it refused in `errors` (the call itself
succeeds); `update_existing` decides whether known members are updated or refused, and `status_if_new`
applies only to new ones, so an unsubscribed member stays unsubscribed. `POST
/3.0/lists/{list_id}/segments/{segment_id}` adds to or removes from a static segment (addresses not on the
list are refused to add and ignored to remove). `DELETE /3.0/lists/{list_id}/members/{subscriber_hash}`
archives a member (404 once it is gone); `POST
/3.0/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent` deletes one for good (204, then
404), and from then on a batch subscribe refuses the address as Mailchimp does ("Forgotten Email Not
Subscribed"). Auth is HTTP basic with the API key as password; errors are
problem+json. Content lives in memory (`EspListStore`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tessera_simulator.servers.faults import FaultInjector, FaultMiddleware

MAX_MEMBERS = 500
MAX_MERGE_VALUE = 255
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
DEFAULT_MERGE_FIELDS = ("FNAME", "LNAME", "ADDRESS", "PHONE", "BIRTHDAY")
ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)*\.[A-Za-z]{2,}$")
#: Domains Mailchimp refuses as fake although they are well formed (reserved for documentation and tests).
FAKE_DOMAINS = re.compile(r"(^|\.)(example\.(com|net|org)|[^.]+\.(test|example|invalid|localhost))$")
NOT_ON_LIST = "Email addresses must be members of the list before they join a static segment"


class Problem(Exception):
    """An error answer in Mailchimp's shape (RFC 7807 problem+json)."""

    def __init__(self, status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None):
        super().__init__(detail)
        self.status = status
        self.body: dict[str, Any] = {"type": ERRORS_DOC, "title": title, "status": status, "detail": detail}
        self.body["instance"] = str(uuid.uuid4())
        if errors:
            self.body["errors"] = errors


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-case address."""
    return hashlib.md5(email.lower().encode()).hexdigest()


@dataclass
class _Member:
    status: str
    merge_fields: dict[str, Any]


@dataclass
class _List:
    merge_fields: tuple[str, ...]
    members: dict[str, _Member] = field(default_factory=dict)  # lower-case e-mail -> member
    forgotten: set[str] = field(default_factory=set)  # subscriber hashes deleted permanently
    segments: dict[int, set[str] | None] = field(default_factory=dict)  # id -> e-mails (None: a saved segment)


class EspListStore:
    """Audiences (lists), their members and static segments, shared by the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lists: dict[str, _List] = {}

    def add_list(self, list_id: str, merge_fields: Iterable[str] = DEFAULT_MERGE_FIELDS) -> None:
        with self._lock:
            self._lists[list_id] = _List(tuple(merge_fields))

    def add_segment(self, list_id: str, segment_id: int, *, static: bool = True) -> None:
        """A static segment (members added by API), or a saved one (members chosen by conditions)."""
        with self._lock:
            self._lists[list_id].segments[segment_id] = set() if static else None

    def add_member(self, list_id: str, email: str, status: str = "subscribed", **merge_fields: Any) -> None:
        """A member who is on the list before the test (signed up by a form, say)."""
        with self._lock:
            self._lists[list_id].members[email.lower()] = _Member(status, dict(merge_fields))

    def members(self, list_id: str) -> dict[str, dict[str, Any]]:
        """Every member by e-mail, archived ones included (status "archived")."""
        with self._lock:
            return {
                email: {"status": m.status, "merge_fields": dict(m.merge_fields)}
                for email, m in self._lists[list_id].members.items()
            }

    def segment_members(self, list_id: str, segment_id: int) -> set[str]:
        with self._lock:
            return set(self._lists[list_id].segments[segment_id] or ())

    def list_json(self, list_id: str) -> dict[str, Any]:
        with self._lock:
            audience = self._audience(list_id)
            subscribed = sum(m.status == "subscribed" for m in audience.members.values())
            return {"id": list_id, "name": f"List {list_id}", "stats": {"member_count": subscribed}}

    def segment_json(self, list_id: str, segment_id: int) -> dict[str, Any]:
        with self._lock:
            emails = self._segment(self._audience(list_id), segment_id)
            kind = "static" if emails is not None else "saved"
            return {
                "id": segment_id,
                "name": f"Segment {segment_id}",
                "type": kind,
                "member_count": len(emails or ()),
                "list_id": list_id,
            }

    def subscribe(self, list_id: str, members: list[dict[str, Any]], update_existing: bool) -> dict[str, Any]:
        """Batch subscribe: add new members, update known ones (when `update_existing`), refuse the rest."""
        answer: dict[str, list[dict[str, Any]]] = {"new_members": [], "updated_members": [], "errors": []}
        with self._lock:
            audience = self._audience(list_id)
            for item in members:
                outcome, entry = _subscribe_one(audience, list_id, item, update_existing)
                answer[outcome].append(entry)
        return answer | {
            "total_created": len(answer["new_members"]),
            "total_updated": len(answer["updated_members"]),
            "error_count": len(answer["errors"]),
        }

    def change_segment(self, list_id: str, segment_id: int, add: list[str], remove: list[str]) -> dict[str, Any]:
        """Add list members to a static segment and remove others; adding or removing twice changes nothing."""
        added, removed, refused = [], [], []
        with self._lock:
            audience = self._audience(list_id)
            emails = self._segment(audience, segment_id)
            if emails is None:
                raise Problem(400, "Invalid Resource", "Members can only be added to or removed from static segments.")
            for email in add:
                member = audience.members.get(email.lower())
                if member is None or member.status == "archived":
                    refused.append(email)
                elif email.lower() not in emails:
                    emails.add(email.lower())
                    added.append(_member_json(list_id, email, member))
            for email in remove:
                if email.lower() in emails:
                    emails.discard(email.lower())
                    removed.append(_member_json(list_id, email, audience.members[email.lower()]))
        errors = [{"email_addresses": refused, "error": NOT_ON_LIST}] if refused else []
        return {
            "members_added": added,
            "members_removed": removed,
            "errors": errors,
            "total_added": len(added),
            "total_removed": len(removed),
            "error_count": len(refused),
        }

    def archive(self, list_id: str, member_hash: str) -> None:
        """Archive a member: off the list and out of its segments, kept as "archived"; 404 when gone."""
        with self._lock:
            audience = self._audience(list_id)
            email = next((e for e in audience.members if subscriber_hash(e) == member_hash.lower()), None)
            if email is None or audience.members[email].status == "archived":
                raise _not_found()
            audience.members[email].status = "archived"
            for emails in audience.segments.values():
                if emails is not None:
                    emails.discard(email)

    def delete_permanently(self, list_id: str, member_hash: str) -> None:
        """Delete a member and its data for good (off the list and its segments); 404 when not a member."""
        with self._lock:
            audience = self._audience(list_id)
            email = next((e for e in audience.members if subscriber_hash(e) == member_hash.lower()), None)
            if email is None:
                raise _not_found()
            del audience.members[email]
            audience.forgotten.add(subscriber_hash(email))
            for emails in audience.segments.values():
                if emails is not None:
                    emails.discard(email)

    def forgotten(self, list_id: str) -> set[str]:
        """Subscriber hashes of members deleted permanently."""
        with self._lock:
            return set(self._lists[list_id].forgotten)

    def _audience(self, list_id: str) -> _List:
        if list_id not in self._lists:
            raise _not_found()
        return self._lists[list_id]

    @staticmethod
    def _segment(audience: _List, segment_id: int) -> set[str] | None:
        if segment_id not in audience.segments:
            raise _not_found()
        return audience.segments[segment_id]


def esp_list_app(store: EspListStore, api_key: str) -> FastAPI:
    """The audience API over `store`, plus `/_faults` and `/_stats`."""
    if not api_key:
        raise ValueError("an API key is required (got an empty one)")

    def authenticate(request: Request) -> None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not credentials:
            raise Problem(401, "API Key Missing", "Your request did not include an API key.")
        try:
            _, _, key = base64.b64decode(credentials).decode().partition(":")
        except ValueError:
            key = ""
        if not hmac.compare_digest(key.encode(), api_key.encode()):
            raise Problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )

    app = FastAPI(
        title="Email list destination stand-in",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(authenticate)],
    )
    app.state.faults = FaultInjector()
    app.add_middleware(FaultMiddleware, injector=app.state.faults)

    @app.exception_handler(Problem)
    async def problem(request: Request, exc: Problem) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, media_type="application/problem+json")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = "Resource Not Found" if exc.status_code == 404 else str(exc.detail)
        body = Problem(exc.status_code, title, str(exc.detail)).body
        return JSONResponse(body, status_code=exc.status_code, media_type="application/problem+json")

    @app.get("/3.0/lists/{list_id}")
    def get_list(list_id: str) -> dict[str, Any]:
        return store.list_json(list_id)

    @app.get("/3.0/lists/{list_id}/segments/{segment_id}")
    def get_segment(list_id: str, segment_id: str) -> dict[str, Any]:
        return store.segment_json(list_id, _segment_id(segment_id))

    @app.post("/3.0/lists/{list_id}")
    async def batch_subscribe(list_id: str, request: Request) -> dict[str, Any]:
        doc = _json_object(await request.body())
        members = _batch_array(doc, "members", required=True, item=dict)
        return store.subscribe(list_id, members, bool(doc.get("update_existing", False)))

    @app.post("/3.0/lists/{list_id}/segments/{segment_id}")
    async def batch_segment(list_id: str, segment_id: str, request: Request) -> dict[str, Any]:
        doc = _json_object(await request.body())
        add = _batch_array(doc, "members_to_add", required=False, item=str)
        remove = _batch_array(doc, "members_to_remove", required=False, item=str)
        return store.change_segment(list_id, _segment_id(segment_id), add, remove)

    @app.post("/3.0/lists/{list_id}/members/{member_hash}/actions/delete-permanent", status_code=204)
    def delete_permanent(list_id: str, member_hash: str) -> Response:
        store.delete_permanently(list_id, member_hash)
        return Response(status_code=204)

    @app.delete("/3.0/lists/{list_id}/members/{member_hash}", status_code=204)
    def archive_member(list_id: str, member_hash: str) -> Response:
        store.archive(list_id, member_hash)
        return Response(status_code=204)

    return app


def _subscribe_one(
    audience: _List, list_id: str, item: Mapping[str, Any], update_existing: bool
) -> tuple[str, dict[str, Any]]:
    """Apply one member of a batch subscribe; returns where the answer lists it, and how."""
    email = str(item.get("email_address", "")).strip()
    error = _member_error(item, email)
    if error:
        return "errors", {"email_address": email, **error}
    if subscriber_hash(email) in audience.forgotten:
        message = (
            f"{email} was permanently deleted and cannot be re-imported. "
            "The contact must re-subscribe to get back on the list."
        )
        return "errors", {"email_address": email, "error": message, "error_code": "ERROR_GENERIC"}
    merge_fields = {tag: v for tag, v in (item.get("merge_fields") or {}).items() if tag in audience.merge_fields}
    known = audience.members.get(email.lower())
    if known is not None and known.status != "archived":
        if not update_existing:
            message = f"{email} is already a list member. Use PUT to insert or update list members."
            return "errors", {"email_address": email, "error": message, "error_code": "ERROR_CONTACT_EXISTS"}
        known.merge_fields.update(merge_fields)
        known.status = item.get("status") or known.status
        return "updated_members", _member_json(list_id, email, known)
    status = item.get("status") or item.get("status_if_new")
    if not status:
        return "errors", {"email_address": email, **_generic("A status is required for a new member.")}
    kept = known.merge_fields if known else {}  # an archived member comes back with its data
    member = audience.members[email.lower()] = _Member(status, {**kept, **merge_fields})
    return "new_members", _member_json(list_id, email, member)


def _member_error(item: Mapping[str, Any], email: str) -> dict[str, str] | None:
    """Why Mailchimp refuses one member of a batch (its `error`, `error_code` and field), or None."""
    if not EMAIL.match(email) or FAKE_DOMAINS.search(email.rpartition("@")[2].lower()):
        return _generic(f"{email} looks fake or invalid, please enter a real email address.")
    for key in ("status", "status_if_new"):
        if item.get(key) is not None and item[key] not in STATUSES:
            return _generic(f"Invalid {key} {item[key]!r}; use one of {', '.join(STATUSES)}.")
    merge_fields = item.get("merge_fields") or {}
    if not isinstance(merge_fields, dict):
        return _generic("Your merge fields were invalid.")
    for tag, value in merge_fields.items():
        if isinstance(value, dict | list) or len(str(value)) > MAX_MERGE_VALUE:
            message = f"Please enter a value of at most {MAX_MERGE_VALUE} characters."
            return _generic("Your merge fields were invalid.") | {"field": tag, "field_message": message}
    return None


def _generic(error: str) -> dict[str, str]:
    return {"error": error, "error_code": "ERROR_GENERIC"}


def _member_json(list_id: str, email: str, member: _Member) -> dict[str, Any]:
    return {
        "id": subscriber_hash(email),
        "email_address": email,
        "status": member.status,
        "merge_fields": dict(member.merge_fields),
        "list_id": list_id,
    }


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise Problem(400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error.") from None
    if not isinstance(doc, dict):
        raise _invalid("body", "Schema describes object, other found")
    return doc


def _batch_array(doc: Mapping[str, Any], name: str, *, required: bool, item: type) -> list[Any]:
    """An array of the body: present when required, of `item`s, at most 500 of them (Mailchimp's batch limit)."""
    values = doc.get(name)
    if values is None and not required:
        return []
    if not isinstance(values, list) or not all(isinstance(v, item) for v in values):
        raise _invalid(name, f"Schema describes array of {'objects' if item is dict else 'strings'}")
    if len(values) > MAX_MEMBERS:
        raise _invalid(name, f"Schema describes array, maximum {MAX_MEMBERS} items, {len(values)} found")
    return values


def _segment_id(value: str) -> int:
    if not value.isdigit():
        raise _not_found()
    return int(value)


def _invalid(name: str, message: str) -> Problem:
    detail = "The resource submitted could not be validated. For field-specific details, see the 'errors' array."
    return Problem(400, "Invalid Resource", detail, [{"field": name, "message": message}])


def _not_found() -> Problem:
    return Problem(404, "Resource Not Found", "The requested resource could not be found.")
