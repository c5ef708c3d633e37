"""Email list destination: segment members kept in a Mailchimp audience, or in a static segment of it.

Adds and updates go through Mailchimp's batch subscribe (`POST /3.0/lists/{list_id}`, at most 500
members) with `update_existing` and `status_if_new: subscribed`: new addresses are subscribed, known ones
get their merge fields updated and keep their status, so a member who unsubscribed is never subscribed
again. Mailchimp answers 200 and lists the members it refused in `errors`; those are rejected with its
words. With `segment_id`, the members are also put in that static segment, and a removal takes them out
of it (they stay on the list); without one, a removal archives the member (`DELETE
/3.0/lists/{list_id}/members/{subscriber_hash}`, one call each: the batch subscribe cannot archive, and a
404 means already gone). A member whose e-mail changed is removed under the old address and added under
the new one. Every call is safe to repeat: subscribing, segment changes and archiving twice change
nothing more.

A person who asks to be forgotten is deleted permanently (`POST
/3.0/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent`, one call each): off the list and
its segments, with their data, and Mailchimp refuses to import the address again. A 404 means already gone.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from connectors.connection import ConnectionInfo
from connectors.destinations.base import (
    BatchRefused,
    Change,
    Delivery,
    Destination,
    DestinationError,
    Member,
    Mode,
    SyncRun,
)
from connectors.destinations.http import DestinationClient
from connectors.masking import mask_identifier

MAX_MERGE_VALUE = 255
#: Mailchimp merge tags: upper-case letters, digits and underscores, at most 10 characters.
MERGE_TAG = re.compile(r"^[A-Z][A-Z0-9_]{0,9}$")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-case address."""
    return hashlib.md5(email.lower().encode()).hexdigest()


class EspListDestination(Destination):
    """A Mailchimp audience. Host: the API's base URL (`https://<dc>.api.mailchimp.com`); password: the API
    key (login: any user name). Extra: `list_id` (required), `segment_id` (a static segment, optional), and
    the retry settings of `DestinationClient`."""

    kind = "esp_list"
    modes = frozenset({Mode.MIRROR, Mode.ADD_REMOVE, Mode.UPSERT})
    keyed_by_identifiers = True
    deletes = True
    batch_size = 500
    identifiers = frozenset({"email"})

    def __init__(self, conn: ConnectionInfo, run: SyncRun):
        super().__init__(conn, run)
        if not conn.password:
            raise DestinationError(f"connection {conn.conn_id!r} has no password: set it to the Mailchimp API key")
        self.list_id = conn.option("list_id", "", str).strip()
        if not self.list_id:
            raise DestinationError(f"connection {conn.conn_id!r}: extra 'list_id' is required (the audience id)")
        segment = conn.extra.get("segment_id")
        self.segment_id = None if segment in (None, "") else conn.option("segment_id", None, int)
        self.name = f"esp_list {conn.conn_id}"
        credentials = base64.b64encode(f"{conn.login or 'tessera'}:{conn.password}".encode()).decode()
        self.client = DestinationClient(conn, name=self.name, headers={"Authorization": f"Basic {credentials}"})
        self._checked = False

    def invalid(self, member: Member) -> str | None:
        if not member.identifiers.get("email"):
            return "no e-mail address: Mailchimp members are e-mail addresses"
        for tag, value in member.fields.items():
            if not MERGE_TAG.match(tag):
                return f"field {tag!r} is not a Mailchimp merge tag (upper-case letters, digits, _, at most 10)"
            if len(str(_merge_value(value))) > MAX_MERGE_VALUE:
                return f"field {tag!r} is longer than Mailchimp's {MAX_MERGE_VALUE} characters"
        return None

    def send(self, change: Change, batch: Sequence[Member]) -> Delivery:
        self._check_audience()
        if change is Change.REMOVE:
            return self._remove({m.key: m.identifiers.get("email", "").lower() for m in batch})
        emails: dict[str, str] = {}  # e-mail -> key
        rejected: dict[str, str] = {}
        for member in batch:
            email = member.identifiers["email"].lower()
            if email in emails:
                rejected[member.key] = f"member {emails[email]} in the same batch has this e-mail address"
            else:
                emails[email] = member.key
        members = [m for m in batch if m.key not in rejected]
        moved = {m.key: _email(m.previous) for m in members if _email(m.previous) not in ("", _email(m))}
        if moved:
            gone = self._remove(moved)
            rejected |= gone.rejected
            members = [m for m in members if m.key not in moved or m.key in gone.confirmed]
        delivered = self._subscribe(members)
        return Delivery(confirmed=delivered.confirmed, rejected={**rejected, **delivered.rejected})

    def delete(self, batch: Sequence[Member]) -> Delivery:
        """Delete each member permanently, by subscriber hash (the address itself is never in the URL)."""
        self._check_audience()
        confirmed = []
        for member in batch:
            email = _email(member)
            if email:
                path = f"/3.0/lists/{self.list_id}/members/{subscriber_hash(email)}/actions/delete-permanent"
                response = self.client.request("POST", path)
                if response.status_code not in (204, 404):  # 404: deleted already (the list exists)
                    raise self._error(
                        f"POST /3.0/lists/{self.list_id}/members/<member {member.key}>/actions/delete-permanent",
                        response,
                    )
            confirmed.append(member.key)
        return Delivery(confirmed=confirmed)

    def _subscribe(self, members: Sequence[Member]) -> Delivery:
        """Batch subscribe, then (with a segment) add to the segment the members Mailchimp took."""
        if not members:
            return Delivery()
        path = f"/3.0/lists/{self.list_id}"
        body = {
            "members": [
                {
                    "email_address": _email(m),
                    "status_if_new": "subscribed",
                    "merge_fields": {tag: _merge_value(value) for tag, value in m.fields.items()},
                }
                for m in members
            ],
            "update_existing": True,
        }
        doc = self._call("POST", path, body)
        keys = {_email(m): m.key for m in members}
        rejected = {keys[e]: error for e, error in _subscribe_errors(doc).items() if e in keys}
        taken = [
            str(item.get("email_address", "")).lower()
            for item in [*(doc.get("new_members") or []), *(doc.get("updated_members") or [])]
        ]
        confirmed = {keys[email]: email for email in taken if email in keys and keys[email] not in rejected}
        if self.segment_id is not None and confirmed:
            segment = self._segment_call({"members_to_add": list(confirmed.values())})
            rejected |= {key: segment[email] for key, email in confirmed.items() if email in segment}
            confirmed = {key: email for key, email in confirmed.items() if email not in segment}
        return Delivery(confirmed=list(confirmed), rejected=rejected)

    def _remove(self, emails: Mapping[str, str]) -> Delivery:
        """Take members (key -> e-mail) out of the segment, or archive them when there is no segment."""
        rejected = {key: "no e-mail address to remove" for key, email in emails.items() if not email}
        wanted = {key: email for key, email in emails.items() if email}
        if self.segment_id is not None:
            errors = self._segment_call({"members_to_remove": list(wanted.values())}) if wanted else {}
            rejected |= {key: errors[email] for key, email in wanted.items() if email in errors}
            return Delivery(confirmed=[key for key, email in wanted.items() if email not in errors], rejected=rejected)
        confirmed = []
        for key, email in wanted.items():
            path = f"/3.0/lists/{self.list_id}/members/{subscriber_hash(email)}"
            response = self.client.request("DELETE", path)
            if response.status_code not in (204, 404):  # 404: archived already (the list exists)
                raise self._error(f"DELETE /3.0/lists/{self.list_id}/members/<member {key}>", response)
            confirmed.append(key)
        return Delivery(confirmed=confirmed, rejected=rejected)

    def _segment_call(self, body: dict[str, list[str]]) -> dict[str, str]:
        """Change the static segment; returns the e-mails Mailchimp refused, with its error."""
        doc = self._call("POST", f"/3.0/lists/{self.list_id}/segments/{self.segment_id}", body)
        return {
            str(email).lower(): str(error.get("error", "refused"))
            for error in doc.get("errors") or []
            for email in error.get("email_addresses") or []
        }

    def _check_audience(self) -> None:
        """Once per sync: the list (and segment) exist, so a 404 on a member later means the member is gone."""
        if self._checked:
            return
        self._call("GET", f"/3.0/lists/{self.list_id}")
        if self.segment_id is not None:
            segment = self._call("GET", f"/3.0/lists/{self.list_id}/segments/{self.segment_id}")
            if segment.get("type") != "static":
                raise DestinationError(
                    f"{self.name}: segment {self.segment_id} of list {self.list_id} is a {segment.get('type')} "
                    "segment; members can only be added to a static one (a tag)"
                )
        self._checked = True

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One call answered with a JSON object; a 400 to a POST refuses the batch, other errors stop the sync."""
        response = self.client.request(method, path, json=body)
        if response.status_code == 200:
            try:
                doc = response.json()
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                return doc
            raise DestinationError(f"{self.name}: {method} {path} answered 200 with a body that is not a JSON object")
        if response.status_code == 400 and method == "POST":
            raise BatchRefused(f"{self.name}: {method} {path} refused the batch: {_problem(response)}")
        raise self._error(f"{method} {path}", response)

    def _error(self, call: str, response: httpx.Response) -> DestinationError:
        advice = {
            401: " (the API key was refused: check the connection's password and host's datacenter)",
            403: " (the API key may not change this audience)",
            404: f" (check extra list_id {self.list_id!r} and segment_id {self.segment_id!r})",
        }.get(response.status_code, "")
        return DestinationError(
            f"{self.name}: {call} answered HTTP {response.status_code}{advice}: {_problem(response)}"
        )


def _email(member: Member | None) -> str:
    return (member.identifiers.get("email") or "").lower() if member else ""


def _merge_value(value: Any) -> Any:
    """A field as a merge field value: text as is, numbers as numbers, booleans as text, null as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _subscribe_errors(doc: Mapping[str, Any]) -> dict[str, str]:
    """The members a batch subscribe refused: lower-case e-mail -> Mailchimp's error (and field)."""
    out = {}
    for error in doc.get("errors") or []:
        email = str(error.get("email_address", ""))
        text = str(error.get("error", "refused"))
        text = text.replace(email, mask_identifier("email", email)) if email else text
        if error.get("field"):
            text += f" ({error['field']}: {error.get('field_message', '')})"
        out[email.lower()] = text
    return out


def _problem(response: httpx.Response) -> str:
    """Mailchimp's problem+json as one line: title, detail and field errors."""
    try:
        doc = response.json()
    except ValueError:
        return response.text[:300] or "(no body)"
    if not isinstance(doc, dict):
        return response.text[:300]
    fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in doc.get("errors") or [] if isinstance(e, dict))
    text = f"{doc.get('title', '')}: {doc.get('detail', '')}".strip(": ")
    return f"{text} ({fields})" if fields else text
