"""Web source: Segment-spec event files (gzip JSON lines) dropped hourly into a folder."""

from connectors.sources.web.events import WebEvents, streams

__all__ = ["WebEvents", "streams"]
