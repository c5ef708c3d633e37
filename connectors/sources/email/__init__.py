"""Email service provider source: subscribers and email events from a Mailchimp-style REST API."""

from connectors.contract import Column, StreamContract
from connectors.registry import ConnectionOption, ConnectionSpec, Source

SOURCE = Source(
    name="email",
    system="Mailchimp-style REST API `GET /3.0/members`, `/3.0/events`",
    description="The email service provider (Mailchimp-style REST API), landed in the lake by `connectors/sources/email/` under the landing contract (docs/landing-contract.md).",
    schedule="0 0 * * *",
    incremental_by="`last_changed` / `timestamp`, cursor tokens",
    connection=ConnectionSpec(
        conn_type="http",
        fields="host, port (or a full URL as host), password = API token",
        options=(ConnectionOption("page_size", "500"), ConnectionOption("lookback_hours", "6")),
    ),
    factory="connectors.sources.email.streams:streams",
    streams=(
        StreamContract(
            source="email",
            stream="subscribers",
            key="subscriber_id",
            description="Subscribers of the mailing list, every version ever landed. Key `subscriber_id`; the latest version (by `updated_at`, then `_extracted_at`) is current.",
            columns=(
                Column(
                    "subscriber_id", required=True, description="The email platform's id of the subscriber (required)."
                ),
                Column(
                    "email", required=True, pii=True, description="Email address as the subscriber typed it (required)."
                ),
                Column(
                    "status",
                    description="One of `subscribed`, `unsubscribed`, `cleaned`, `bounced` (others are quarantined).",
                ),
                Column("first_name", pii=True, description="First name as typed."),
                Column("last_name", pii=True, description="Last name as typed."),
                Column("opted_in_at", "timestamp", description="When the subscriber opted in (UTC)."),
                Column(
                    "updated_at",
                    "timestamp",
                    required=True,
                    description="When this version was last changed (UTC, required).",
                ),
            ),
        ),
        StreamContract(
            source="email",
            stream="events",
            key="event_id",
            description="What happened to each campaign email: sent, delivered, opened, clicked, bounced, unsubscribed, marked as spam. Key `event_id`.",
            columns=(
                Column("event_id", required=True, description="The email platform's id of the event (required)."),
                Column("subscriber_id", description="The subscriber the email went to."),
                Column("email", pii=True, description="The address the email went to."),
                Column("campaign_id", description="The campaign the email belonged to."),
                Column(
                    "event_type",
                    required=True,
                    description="One of `sent`, `delivered`, `open`, `click`, `bounce`, `unsubscribe`, `spam_complaint` (required).",
                ),
                Column("url", description="The link clicked (click events)."),
                Column("occurred_at", "timestamp", required=True, description="When it happened (UTC, required)."),
            ),
        ),
    ),
)
