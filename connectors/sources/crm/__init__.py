"""CRM source: contacts from a HubSpot-style REST API (`/crm/v3/contacts`)."""

from connectors.contract import Column, StreamContract
from connectors.registry import ConnectionOption, ConnectionSpec, Source

SOURCE = Source(
    name="crm",
    system="HubSpot-style REST API `GET /crm/v3/contacts`",
    description="The CRM (HubSpot-style REST API), landed in the lake by `connectors/sources/crm/` under the landing contract (docs/landing-contract.md): one folder per daily batch, append-only, a changed contact lands again as a new version.",
    schedule="0 0 * * *",
    incremental_by="`updatedAt`, keyset `after` tokens",
    connection=ConnectionSpec(
        conn_type="http",
        fields="host, port (or a full URL as host), password = API token",
        options=(ConnectionOption("page_size", "200"), ConnectionOption("lookback_hours", "6")),
    ),
    factory="connectors.sources.crm.contacts:streams",
    streams=(
        StreamContract(
            source="crm",
            stream="contacts",
            key="contact_id",
            description="Contacts sales and service staff typed in, every version ever landed. Key `contact_id`; the latest version (by `updated_at`, then `_extracted_at`) is current.",
            columns=(
                Column("contact_id", required=True, description="The CRM's id of the contact (required)."),
                Column(
                    "email", pii=True, description="Email address as typed (any case, stray whitespace, placeholders)."
                ),
                Column("phone", pii=True, description="Phone number as typed, national or international format."),
                Column("first_name", pii=True, description="First name as typed."),
                Column("last_name", pii=True, description="Last name as typed."),
                Column(
                    "birth_date",
                    pii=True,
                    description="Birth date as text, in whatever format it was typed (YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY, D Mon YYYY).",
                ),
                Column("street", pii=True, description="Street line as typed."),
                Column("city", pii=True, description="City as typed."),
                Column("postcode", pii=True, description="Postcode as typed."),
                Column(
                    "country", description="Country as typed (a code or a name, e.g. `US`, `USA`, `United States`)."
                ),
                Column("company", description="Company the contact works for."),
                Column("marketing_opt_in", "bool", description="Whether the contact may receive marketing."),
                Column(
                    "is_deleted",
                    "bool",
                    description="The CRM's soft delete (archived); a deleted contact lands once more with `true`.",
                ),
                Column("created_at", "timestamp", description="When the contact was created in the CRM (UTC)."),
                Column(
                    "updated_at",
                    "timestamp",
                    required=True,
                    description="When this version was last changed in the CRM (UTC, required).",
                ),
            ),
        ),
    ),
)
