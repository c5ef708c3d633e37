"""Timestamps as source APIs expect them in query strings."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_z(ts: datetime | None) -> str | None:
    """UTC ISO-8601 with millisecond precision and a `Z`, e.g. 2026-01-01T00:00:00.000Z."""
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
