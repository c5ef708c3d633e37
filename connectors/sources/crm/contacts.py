"""CRM contacts, read by `updatedAt` with keyset pagination (`after` tokens)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connectors.base import CursorStream, Stream
from connectors.connection import ConnectionInfo
from connectors.contract import contract_for
from connectors.http import ApiClient, SourceApiError, retry_policy
from connectors.records import RecordError, parse_bool, parse_timestamp, text
from connectors.sources.iso import iso_z


class CrmContacts(CursorStream):
    contract = contract_for("crm", "contacts")
    cursor_field = "updated_at"
    path = "/crm/v3/contacts"

    def __init__(self, client: ApiClient, page_size: int = 200, lookback=None):
        self.client = client
        self.page_size = page_size
        if lookback is not None:
            self.lookback = lookback

    def fetch(self, since: datetime | None, before: datetime) -> Iterator[list[Any]]:
        after = None
        while True:
            params = {"updated_since": iso_z(since), "updated_before": iso_z(before), "limit": self.page_size}
            doc = self.client.get_json(self.path, {**params, "after": after})
            results = doc.get("results") if isinstance(doc, dict) else None
            if not isinstance(results, list):
                raise SourceApiError(f"{self.client.name}: GET {self.path} answered without a 'results' list")
            yield results
            after = ((doc.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def parse(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise RecordError("record is not a JSON object")
        props = raw.get("properties") or {}
        if not isinstance(props, dict):
            raise RecordError("properties is not a JSON object")
        return {
            "contact_id": text(raw.get("id")),
            "email": text(props.get("email")),
            "phone": text(props.get("phone")),
            "first_name": text(props.get("firstname")),
            "last_name": text(props.get("lastname")),
            "birth_date": text(props.get("date_of_birth")),
            "street": text(props.get("address")),
            "city": text(props.get("city")),
            "postcode": text(props.get("zip")),
            "country": text(props.get("country")),
            "company": text(props.get("company")),
            "marketing_opt_in": parse_bool(props.get("hs_marketable_status"), "hs_marketable_status"),
            "is_deleted": parse_bool(raw.get("archived"), "archived") or False,
            "created_at": parse_timestamp(raw.get("createdAt"), "createdAt"),
            "updated_at": parse_timestamp(raw.get("updatedAt"), "updatedAt"),
        }


def streams(conn: ConnectionInfo) -> list[Stream]:
    client = ApiClient(conn.base_url(), conn.password, name="crm", retry=retry_policy(conn))
    return [CrmContacts(client, conn.option("page_size", 200, int), conn.lookback())]
