"""Point-of-sale source: loyalty members and transactions from a SQL database (SQLite or PostgreSQL)."""

from connectors.contract import Column, StreamContract
from connectors.registry import ConnectionOption, ConnectionSpec, Source

SOURCE = Source(
    name="pos",
    system="SQL database (SQLite, PostgreSQL; any SQLAlchemy URL)",
    description="The point-of-sale database (loyalty desk and tills), landed in the lake by `connectors/sources/pos/` under the landing contract (docs/landing-contract.md). Rows come from SQL tables, so there is no `_record`.",
    schedule="0 0 * * *",
    incremental_by="`updated_at` / `occurred_at` + primary key",
    connection=ConnectionSpec(
        conn_type="postgres or sqlite",
        fields="host/port/login/password/schema (database), or the SQLite file as host",
        options=(
            ConnectionOption("url", "", "any SQLAlchemy URL"),
            ConnectionOption("db_schema", ""),
            ConnectionOption("page_size", "5000"),
            ConnectionOption("lookback_hours", "6", "late till uploads arrive with an older `occurred_at`"),
        ),
    ),
    factory="connectors.sources.pos.tables:streams",
    streams=(
        StreamContract(
            source="pos",
            stream="loyalty_members",
            key="loyalty_id",
            keeps_record=False,
            description="Loyalty programme members as the store clerk entered them, every version ever landed. Key `loyalty_id`; the latest version (by `updated_at`, then `_extracted_at`) is current.",
            columns=(
                Column("loyalty_id", required=True, description="The loyalty card number (required)."),
                Column("first_name", pii=True, description="First name as typed."),
                Column("last_name", pii=True, description="Last name as typed."),
                Column("email", pii=True, description="Email address as typed."),
                Column("phone", pii=True, description="Phone number as typed, national or international format."),
                Column("birth_date", pii=True, description="Birth date as text, in whatever format it was typed."),
                Column("street", pii=True, description="Street line as typed."),
                Column("city", pii=True, description="City as typed."),
                Column("postcode", pii=True, description="Postcode as typed."),
                Column("country", description="Country as typed (a code or a name)."),
                Column("enrolled_at", "timestamp", description="When the member joined the programme (UTC)."),
                Column(
                    "updated_at",
                    "timestamp",
                    required=True,
                    description="When this version was last changed (UTC, required).",
                ),
            ),
        ),
        StreamContract(
            source="pos",
            stream="transactions",
            key="transaction_id",
            keeps_record=False,
            description="Till receipts. Key `transaction_id`. What identifies the shopper is whatever the till captured: a loyalty card, a tokenised payment card, a receipt email or a phone number; many are empty.",
            columns=(
                Column("transaction_id", required=True, description="The till's id of the receipt (required)."),
                Column("store_id", description="The store it happened in."),
                Column("loyalty_id", description="The loyalty card scanned, if any."),
                Column("payment_token", description="A tokenised payment card (never a card number)."),
                Column("receipt_email", pii=True, description="The email a digital receipt went to, as typed."),
                Column("phone", pii=True, description="The phone number given at the till, as typed."),
                Column("total_amount", "decimal(18,2)", description="Receipt total, in `currency`."),
                Column("currency", description="ISO 4217 currency of the store."),
                Column("item_count", "int64", description="Number of items on the receipt."),
                Column(
                    "occurred_at", "timestamp", required=True, description="When the sale happened (UTC, required)."
                ),
            ),
        ),
    ),
)
