"""Email service provider subscribers (by `last_changed`) and events (by `timestamp`), paginated by cursor tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connectors.base import CursorStream, Stream
from connectors.connection import ConnectionInfo
from connectors.contract import contract_for
from connectors.http import ApiClient, SourceApiError, retry_policy
from connectors.records import RecordError, parse_timestamp, text
from connectors.sources.iso import iso_z

EVENT_TYPES = frozenset({"sent", "delivered", "open", "click", "bounce", "unsubscribe", "spam_complaint"})
STATUSES = frozenset({"subscribed", "unsubscribed", "cleaned", "bounced"})


class _EmailStream(CursorStream):
    path: str
    items_key: str
    since_param: str
    before_param: str

    def __init__(self, client: ApiClient, page_size: int = 500, lookback=None):
        self.client = client
        self.page_size = page_size
        if lookback is not None:
            self.lookback = lookback

    def fetch(self, since: datetime | None, before: datetime) -> Iterator[list[Any]]:
        cursor = None
        while True:
            params = {self.since_param: iso_z(since), self.before_param: iso_z(before), "count": self.page_size}
            doc = self.client.get_json(self.path, {**params, "cursor": cursor})
            items = doc.get(self.items_key) if isinstance(doc, dict) else None
            if not isinstance(items, list):
                raise SourceApiError(f"{self.client.name}: GET {self.path} answered without a '{self.items_key}' list")
            yield items
            cursor = doc.get("next_cursor")
            if not cursor:
                return


class EmailSubscribers(_EmailStream):
    contract = contract_for("email", "subscribers")
    cursor_field = "updated_at"
    path, items_key = "/3.0/members", "members"
    since_param, before_param = "since_last_changed", "before_last_changed"

    def parse(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise RecordError("record is not a JSON object")
        merge = raw.get("merge_fields") or {}
        status = text(raw.get("status"))
        if status is not None and status not in STATUSES:
            raise RecordError(f"status {status!r} is not one of {', '.join(sorted(STATUSES))}")
        return {
            "subscriber_id": text(raw.get("id")),
            "email": text(raw.get("email_address")),
            "status": status,
            "first_name": text(merge.get("FNAME")),
            "last_name": text(merge.get("LNAME")),
            "opted_in_at": parse_timestamp(raw.get("timestamp_opt"), "timestamp_opt"),
            "updated_at": parse_timestamp(raw.get("last_changed"), "last_changed"),
        }


class EmailEvents(_EmailStream):
    contract = contract_for("email", "events")
    cursor_field = "occurred_at"
    path, items_key = "/3.0/events", "events"
    since_param, before_param = "since", "before"

    def parse(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise RecordError("record is not a JSON object")
        event_type = text(raw.get("type"))
        if event_type is not None and event_type not in EVENT_TYPES:
            raise RecordError(f"type {event_type!r} is not one of {', '.join(sorted(EVENT_TYPES))}")
        return {
            "event_id": text(raw.get("id")),
            "subscriber_id": text(raw.get("subscriber_id")),
            "email": text(raw.get("email")),
            "campaign_id": text(raw.get("campaign_id")),
            "event_type": event_type,
            "url": text(raw.get("url")),
            "occurred_at": parse_timestamp(raw.get("timestamp"), "timestamp"),
        }


def streams(conn: ConnectionInfo) -> list[Stream]:
    client = ApiClient(conn.base_url(), conn.password, name="email", retry=retry_policy(conn))
    page_size, lookback = conn.option("page_size", 500, int), conn.lookback()
    return [EmailSubscribers(client, page_size, lookback), EmailEvents(client, page_size, lookback)]
