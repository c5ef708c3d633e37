"""The landing contract: the Arrow schema of every stream that lands in the lake.

This module is the single source of truth for `docs/landing-contract.md`: connectors
cast to these schemas, tests check landed files against them, and the dbt sources
read the columns they name. Another loader may land data the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)

#: Columns every landed row carries, after the business columns.
METADATA_FIELDS: tuple[pa.Field, ...] = (
    pa.field("_batch_id", pa.string(), nullable=False),
    pa.field("_extracted_at", TS, nullable=False),
)
#: The original record as JSON, kept where the source had one (APIs and files).
RECORD_FIELD = pa.field("_record", pa.string())

#: Quarantined rows keep the original payload and say why they were refused.
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("_record_id", pa.string()),
        pa.field("_reason", pa.string(), nullable=False),
        pa.field("_record", pa.string(), nullable=False),
        *METADATA_FIELDS,
    ]
)


@dataclass(frozen=True)
class StreamContract:
    """What one landed stream looks like: its business columns, key and required fields."""

    source: str
    stream: str
    key: str
    business_fields: tuple[pa.Field, ...]
    keeps_record: bool = True

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.business_fields if not f.nullable)

    @property
    def schema(self) -> pa.Schema:
        fields = [*self.business_fields, *METADATA_FIELDS]
        if self.keeps_record:
            fields.append(RECORD_FIELD)
        return pa.schema(fields)

    @property
    def name(self) -> str:
        return f"{self.source}/{self.stream}"


def _s(name: str, required: bool = False) -> pa.Field:
    return pa.field(name, pa.string(), nullable=not required)


def _ts(name: str, required: bool = False) -> pa.Field:
    return pa.field(name, TS, nullable=not required)


CONTRACTS: dict[str, StreamContract] = {
    c.name: c
    for c in (
        StreamContract(
            "crm",
            "contacts",
            key="contact_id",
            business_fields=(
                _s("contact_id", True),
                _s("email"),
                _s("phone"),
                _s("first_name"),
                _s("last_name"),
                _s("birth_date"),
                _s("street"),
                _s("city"),
                _s("postcode"),
                _s("country"),
                _s("company"),
                pa.field("marketing_opt_in", pa.bool_()),
                pa.field("is_deleted", pa.bool_()),
                _ts("created_at"),
                _ts("updated_at", True),
            ),
        ),
        StreamContract(
            "email",
            "subscribers",
            key="subscriber_id",
            business_fields=(
                _s("subscriber_id", True),
                _s("email", True),
                _s("status"),
                _s("first_name"),
                _s("last_name"),
                _ts("opted_in_at"),
                _ts("updated_at", True),
            ),
        ),
        StreamContract(
            "email",
            "events",
            key="event_id",
            business_fields=(
                _s("event_id", True),
                _s("subscriber_id"),
                _s("email"),
                _s("campaign_id"),
                _s("event_type", True),
                _s("url"),
                _ts("occurred_at", True),
            ),
        ),
        StreamContract(
            "pos",
            "loyalty_members",
            key="loyalty_id",
            keeps_record=False,
            business_fields=(
                _s("loyalty_id", True),
                _s("first_name"),
                _s("last_name"),
                _s("email"),
                _s("phone"),
                _s("birth_date"),
                _s("street"),
                _s("city"),
                _s("postcode"),
                _s("country"),
                _ts("enrolled_at"),
                _ts("updated_at", True),
            ),
        ),
        StreamContract(
            "pos",
            "transactions",
            key="transaction_id",
            keeps_record=False,
            business_fields=(
                _s("transaction_id", True),
                _s("store_id"),
                _s("loyalty_id"),
                _s("payment_token"),
                _s("receipt_email"),
                _s("phone"),
                pa.field("total_amount", MONEY),
                _s("currency"),
                pa.field("item_count", pa.int64()),
                _ts("occurred_at", True),
            ),
        ),
        StreamContract(
            "web",
            "events",
            key="message_id",
            business_fields=(
                _s("message_id", True),
                _s("type", True),
                _s("event"),
                _s("anonymous_id"),
                _s("user_id"),
                _s("email"),
                _s("url"),
                _s("referrer"),
                _s("user_agent"),
                _s("ip"),
                _s("properties"),
                _ts("occurred_at", True),
            ),
        ),
    )
}


def contract_for(source: str, stream: str) -> StreamContract:
    try:
        return CONTRACTS[f"{source}/{stream}"]
    except KeyError:
        known = ", ".join(sorted(CONTRACTS))
        raise KeyError(f"no landing contract for {source}/{stream}; known streams: {known}") from None
