"""An erasure request: which person to forget, named by one identifier, normalised the way the warehouse
stores it, so the same person asked for twice is the same request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.destinations.hashing import normal_email, sha256_hex

#: The identifiers a request may name, by the option name the CLI and request files use.
KINDS = ("email", "phone", "crm_id", "customer_id")
#: How the identity graph names each kind's identifier type (`int_identity_edges.identifier_type`).
IDENTIFIER_TYPES = {"email": "email", "phone": "phone", "crm_id": "crm_contact_id", "customer_id": "customer_id"}


class InvalidRequest(ValueError):
    """The request names no identifier, several, or one that cannot be normalised."""


@dataclass(frozen=True)
class ErasureRequest:
    kind: str
    #: The normalised value: e-mail trimmed and lower-cased, phone in E.164, ids trimmed.
    value: str

    @property
    def identifier_type(self) -> str:
        return IDENTIFIER_TYPES[self.kind]

    @property
    def sha256(self) -> str:
        """The hash the audit log, the suppression list and served request files keep instead of the value."""
        return sha256_hex(self.value)

    def describe(self) -> str:
        """What logs and reports may say about the request: its kind and a short hash, never the value."""
        return f"{self.kind} sha256:{self.sha256[:12]}"


def parse_request(kind: str, raw: str) -> ErasureRequest:
    """Normalise one identifier into a request; the error never repeats the value (it is personal data)."""
    kind = kind.replace("-", "_")
    if kind not in KINDS:
        raise InvalidRequest(f"unknown identifier {kind!r}; a request names one of {', '.join(KINDS)}")
    text = (raw or "").strip()
    if not text:
        raise InvalidRequest(f"the {kind} of the request is empty")
    if kind == "email":
        value = normal_email(text)
        if "@" not in value:
            raise InvalidRequest("the e-mail address of the request has no '@'")
    elif kind == "phone":
        value = normal_phone(text)
    else:
        value = text
    return ErasureRequest(kind, value)


def normal_phone(text: str) -> str:
    """E.164 with the project's phone normaliser. Without a country a national number means nothing, so a
    request gives the number in international form (`+49 157 …` or `0049 157 …`)."""
    from transforms.enrichment.phone_numbers import to_e164

    e164 = to_e164(text)
    if e164 is None:
        raise InvalidRequest(
            "the phone number of the request is not a plausible international number: give it with its country "
            "code, for example +44 7700 900123"
        )
    return e164


def request_from_document(document: dict[str, Any]) -> ErasureRequest:
    """A request file's JSON (`{"email": ...}`, `{"crm_id": ...}`, …): exactly one identifier."""
    named = [(key.replace("-", "_"), value) for key, value in document.items() if key.replace("-", "_") in KINDS]
    if len(named) != 1:
        raise InvalidRequest(f"a request names exactly one of {', '.join(KINDS)}; this one names {len(named)}")
    return parse_request(*named[0])
