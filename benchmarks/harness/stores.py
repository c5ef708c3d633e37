"""The SQLite tables behind the simulated sources, for the benchmarks that read them directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class StoreTable:
    """One table behind a stream of a SQL-backed source, and how the connector's window end filters it."""

    filename: str
    table: str
    time_column: str
    bound: str  # "epoch_ms" (the API stores) or "naive_text" (SQLAlchemy DateTime on SQLite)

    def window_end(self, clock: datetime) -> int | str:
        """`clock` as this table's time column holds it, to select what the connector reads up to it."""
        utc = clock.astimezone(UTC)
        if self.bound == "epoch_ms":
            return int(utc.timestamp() * 1000)
        return utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


#: The table each stream of an API or database source reads from, by the stream's name (`source.stream`).
STORE_TABLES: dict[str, StoreTable] = {
    "crm.contacts": StoreTable("crm.sqlite", "contacts", "updated_ms", "epoch_ms"),
    "email.subscribers": StoreTable("esp.sqlite", "members", "last_changed_ms", "epoch_ms"),
    "email.events": StoreTable("esp.sqlite", "events", "ts_ms", "epoch_ms"),
    "pos.loyalty_members": StoreTable("pos.sqlite", "loyalty_members", "updated_at", "naive_text"),
    "pos.transactions": StoreTable("pos.sqlite", "transactions", "occurred_at", "naive_text"),
}
