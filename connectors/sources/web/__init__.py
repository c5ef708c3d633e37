"""Web source: Segment-spec event files (gzip JSON lines) dropped hourly into a folder."""

from connectors.contract import Column, StreamContract
from connectors.registry import ConnectionOption, ConnectionSpec, Freshness, Source

SOURCE = Source(
    name="web",
    system="folder of hourly gzip JSON-lines drops `YYYY/MM/DD/HH/*.jsonl.gz`",
    description="The website's Segment-style event drops (hourly gzip JSON-lines files), landed in the lake by `connectors/sources/web/` under the landing contract (docs/landing-contract.md).",
    schedule="0 * * * *",
    incremental_by="manifest of processed files",
    connection=ConnectionSpec(
        conn_type="fs",
        fields="—",
        options=(ConnectionOption("path", "", "the drop folder"), ConnectionOption("page_size", "10000")),
    ),
    factory="connectors.sources.web.events:streams",
    freshness=Freshness(6, "hour"),
    streams=(
        StreamContract(
            source="web",
            stream="events",
            key="message_id",
            description="Page views, tracked actions and identify calls. Key `message_id`; a message delivered twice (files re-dropped) lands twice and is kept once.",
            columns=(
                Column("message_id", required=True, description="Segment's message id (required)."),
                Column("type", required=True, description="One of `page`, `track`, `identify` (required)."),
                Column("event", description="The tracked action's name (track events)."),
                Column("anonymous_id", description="The browser's cookie id."),
                Column("user_id", description="The CRM `contact_id` of a logged-in user."),
                Column("email", pii=True, description="Email from the traits of an identify call."),
                Column("url", description="The page's URL."),
                Column("referrer", description="The referring URL."),
                Column("user_agent", description="The browser's user agent string."),
                Column("ip", pii=True, description="The visitor's IP address."),
                Column("properties", description="The event's properties as JSON text."),
                Column("occurred_at", "timestamp", required=True, description="When it happened (UTC, required)."),
            ),
        ),
    ),
)
