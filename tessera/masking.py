"""Masking identifiers for display: enough to recognise a value, not enough to copy it."""

from __future__ import annotations


def mask_identifier(identifier_type: str, value: str | None) -> str | None:
    if value is None:
        return None
    if identifier_type == "email" and "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if identifier_type == "phone":
        return value[:3] + "*" * max(len(value) - 6, 0) + value[-3:]
    return value
