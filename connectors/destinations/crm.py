"""CRM destination: segment members upserted as HubSpot contacts, matched on e-mail.

Each batch is one `POST /crm/v3/objects/contacts/batch/upsert` (at most 100 inputs) with `idProperty:
email`: HubSpot creates the contacts it does not know and updates the others, so a batch sent again
after a lost answer changes nothing more. The member's key goes along as the custom property
`tessera_customer_id` (create it in HubSpot as a single-line text contact property). HubSpot allows 100
calls per rolling 10 seconds for a private app; the client keeps under that, and waits out a 429 when
other syncs to the same portal use the budget too.

A batch with one bad input is refused whole, with a 400 naming it: that becomes `BatchRefused` with the
keys of the e-mails it names, and the engine sends the others again. Contacts are never removed (mode
`upsert`), but a person who asks to be forgotten is deleted with HubSpot's GDPR delete (`POST
/crm/v3/objects/contacts/gdpr-delete`, by e-mail, one call each): HubSpot deletes the contact and its
associations, and blocks the address from coming back; an address it does not know is blocked all the same,
so the call is safe to repeat.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
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
from connectors.destinations.http import DestinationClient, RateLimit
from connectors.masking import mask_identifier

UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
GDPR_DELETE_PATH = "/crm/v3/objects/contacts/gdpr-delete"
KEY_PROPERTY = "tessera_customer_id"
MAX_VALUE_LENGTH = 65_536
#: The client's window is a tenth longer than HubSpot's: a call that waited just long enough here could
#: otherwise reach HubSpot, after its network delay, a moment before the window there has room.
WINDOW_MARGIN = 1.1
#: HubSpot's internal property names: lower-case letters, digits and underscores, starting with a letter.
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class CrmDestination(Destination):
    """HubSpot contacts. Extra: `calls_per_10s` (100, HubSpot's limit for a private app) and
    `rate_window_seconds` (10; shorter only in tests), and the retry settings of `DestinationClient`.
    The password is the private app's access token (scope `crm.objects.contacts.write`)."""

    kind = "crm"
    modes = frozenset({Mode.UPSERT})
    keyed_by_identifiers = True
    deletes = True
    batch_size = 100
    identifiers = frozenset({"email"})

    def __init__(self, conn: ConnectionInfo, run: SyncRun):
        super().__init__(conn, run)
        if not conn.password:
            raise DestinationError(
                f"connection {conn.conn_id!r} has no password: set it to the HubSpot private app's access token"
            )
        calls = conn.option("calls_per_10s", 100, int)
        if calls < 1:
            raise DestinationError(f"connection {conn.conn_id!r}: extra 'calls_per_10s' must be >= 1, got {calls}")
        self.client = DestinationClient(
            conn,
            name=f"crm {conn.conn_id}",
            headers={"Authorization": f"Bearer {conn.password}"},
            rate=RateLimit(calls, conn.option("rate_window_seconds", 10.0, float) * WINDOW_MARGIN),
        )

    def invalid(self, member: Member) -> str | None:
        if not member.identifiers.get("email"):
            return "no e-mail address: HubSpot contacts are matched on e-mail"
        for name, value in member.fields.items():
            if not PROPERTY_NAME.match(name):
                return (
                    f"field {name!r} is not a HubSpot property name (lower-case letters, digits and underscores, "
                    "starting with a letter)"
                )
            if len(_property_value(value)) > MAX_VALUE_LENGTH:
                return f"field {name!r} is longer than HubSpot's {MAX_VALUE_LENGTH:,} characters"
        return None

    def send(self, change: Change, batch: Sequence[Member]) -> Delivery:
        if change is Change.REMOVE:
            raise DestinationError(f"crm {self.conn.conn_id}: HubSpot contacts are upserted, never removed")
        keys_by_email: dict[str, str] = {}
        rejected: dict[str, str] = {}
        inputs = []
        for member in batch:
            email = member.identifiers["email"].lower()
            if email in keys_by_email:
                rejected[member.key] = f"member {keys_by_email[email]} in the same batch has this e-mail address"
                continue
            keys_by_email[email] = member.key
            properties = {name: _property_value(value) for name, value in member.fields.items()}
            properties |= {"email": email, KEY_PROPERTY: member.key}
            inputs.append({"idProperty": "email", "id": email, "properties": properties})
        call = f"crm {self.conn.conn_id}: POST {UPSERT_PATH}"
        response = self.client.request("POST", UPSERT_PATH, json={"inputs": inputs})
        if response.status_code == 200:
            results = _json(response, call).get("results") or []
            emails = {str((result.get("properties") or {}).get("email", "")).lower() for result in results}
            return Delivery(
                confirmed=[key for email, key in keys_by_email.items() if email in emails], rejected=rejected
            )
        if response.status_code == 400:
            raise _refused(_json(response, call), keys_by_email, call)
        raise DestinationError(f"{call} answered HTTP {response.status_code}{_advice(response)}: {_message(response)}")

    def delete(self, batch: Sequence[Member]) -> Delivery:
        """GDPR-delete each member's contact by e-mail (a member without one was never sent here)."""
        confirmed = []
        for member in batch:
            email = (member.identifiers.get("email") or "").strip().lower()
            if email:
                response = self.client.request(
                    "POST", GDPR_DELETE_PATH, json={"objectId": email, "idProperty": "email"}
                )
                if response.status_code not in (200, 204):
                    raise DestinationError(
                        f"crm {self.conn.conn_id}: POST {GDPR_DELETE_PATH} for member {member.key} answered HTTP "
                        f"{response.status_code}{_advice(response)}: "
                        + _message(response).replace(email, mask_identifier("email", email))
                    )
            confirmed.append(member.key)
        return Delivery(confirmed=confirmed)


def _property_value(value: Any) -> str:
    """A field as a HubSpot property value (a string): booleans as true/false, null as empty (clears it)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _refused(doc: dict[str, Any], keys_by_email: dict[str, str], call: str) -> BatchRefused:
    """HubSpot's 400 as `BatchRefused`: each input it names (`context.id`) with its own message."""
    named: dict[str, str] = {}
    for error in doc.get("errors") or []:
        for email in (error.get("context") or {}).get("id") or []:
            key = keys_by_email.get(str(email).strip().lower())
            if key:
                named[key] = str(error.get("message", "")).replace(str(email), mask_identifier("email", str(email)))
    category = doc.get("category", "VALIDATION_ERROR")
    if not named:
        return BatchRefused(f"{call} refused the batch ({category}): {doc.get('message', '')}")
    details = "; ".join(f"member {key}: {message}" for key, message in sorted(named.items()))
    return BatchRefused(f"{call} refused the batch ({category}): {details}", keys=sorted(named))


def _json(response: httpx.Response, call: str) -> dict[str, Any]:
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise DestinationError(f"{call} answered HTTP {response.status_code} with a body that is not a JSON object")
    return doc


def _message(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(doc, dict) and doc.get("message"):
        return f"{doc.get('category', doc.get('errorType', ''))} {doc['message']}".strip()
    return response.text[:300]


def _advice(response: httpx.Response) -> str:
    if response.status_code == 401:
        return " (the access token was refused: check the connection's password)"
    if response.status_code == 403:
        return " (the private app lacks a scope: it needs crm.objects.contacts.write)"
    return ""
