"""Masking identifiers for display: enough to recognise a value, not enough to copy it.

Here, in the lowest layer, so connector errors (a destination naming a refused address) and
`tessera explain` or the checks' messages mask the same way."""

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
