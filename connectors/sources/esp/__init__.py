"""Email service provider source: subscribers and email events from a Mailchimp-style REST API."""

from connectors.sources.esp.streams import EspEvents, EspSubscribers, streams

__all__ = ["EspEvents", "EspSubscribers", "streams"]
