"""Turning raw source records into landing-contract rows, or into a reason to quarantine them.

Connectors parse one record at a time (that is a connector's page handling); a record that
cannot be parsed raises `RecordError` with a reason a person can act on, and the extraction
keeps the original payload in quarantine instead of dropping it.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


class RecordError(ValueError):
    """A record that cannot land: the message is the quarantine reason."""


def parse_timestamp(value: Any, field: str) -> datetime | None:
    """ISO-8601 text or a datetime to an aware UTC datetime; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            raise RecordError(f"{field} is not an ISO-8601 timestamp: {value!r}") from None
    elif isinstance(value, date):
        ts = datetime(value.year, value.month, value.day)
    else:
        raise RecordError(f"{field} is not a timestamp: {value!r}")
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def parse_bool(value: Any, field: str) -> bool | None:
    """Booleans as sources write them: true/false, "true"/"false", "yes"/"no", 1/0."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "t", "yes", "y", "1"}:
        return True
    if text in {"false", "f", "no", "n", "0"}:
        return False
    raise RecordError(f"{field} is not a boolean: {value!r}")


def parse_decimal(value: Any, field: str, places: int = 2) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise RecordError(f"{field} is not a decimal number: {value!r}") from None
    if not amount.is_finite():
        raise RecordError(f"{field} is not a finite number: {value!r}")
    quantum = Decimal(1).scaleb(-places)
    if amount != amount.quantize(quantum):
        raise RecordError(f"{field} has more than {places} decimal places: {value!r}")
    if abs(amount) >= Decimal(10) ** (18 - places):
        raise RecordError(f"{field} is out of range for decimal(18,{places}): {value!r}")
    return amount.quantize(quantum)


def parse_int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{field} is not an integer: {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise RecordError(f"{field} is not an integer: {value!r}") from None
    return number


def text(value: Any) -> str | None:
    """Strings stay as the source wrote them (normalisation happens in dbt); empty means null."""
    if value is None:
        return None
    value = str(value)
    return value if value != "" else None


def require(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    missing = [f for f in fields if row.get(f) is None]
    if missing:
        raise RecordError(f"missing required field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return row


def to_json(record: Any) -> str:
    """The canonical JSON of a raw record: stable key order, so equal records give equal text."""
    if isinstance(record, str):
        return record
    return json.dumps(record, sort_keys=True, default=str, separators=(",", ":"), ensure_ascii=False)
