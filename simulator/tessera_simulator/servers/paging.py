"""Time-window query parameters and keyset pagination over a sqlite store.

Pages are ordered by (timestamp, id) and the opaque cursor holds the last pair seen, so
records changed while a client pages through neither shift pages nor repeat: a changed
record moves past the window's exclusive end and shows up in the next window instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from tessera_simulator.servers.api_errors import ApiError
from tessera_simulator.timestamps import parse_iso_ms


def iso_param(params: Mapping[str, str], name: str, required: bool) -> int | None:
    raw = params.get(name)
    if raw is None or not raw.strip():
        if required:
            raise ApiError(
                400, f"query parameter '{name}' is required: an ISO 8601 timestamp such as 2026-01-01T00:00:00Z"
            )
        return None
    try:
        return parse_iso_ms(raw)
    except ValueError:
        raise ApiError(
            400, f"query parameter '{name}' must be an ISO 8601 timestamp such as 2026-01-01T00:00:00Z, got {raw!r}"
        ) from None


def int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter '{name}' must be an integer from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"query parameter '{name}' must be from {low} to {high}, got {value}")
    return value


def encode_cursor(ms: int, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([ms, key]).encode()).decode().rstrip("=")


def decode_cursor(params: Mapping[str, str], name: str) -> tuple[int, str] | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        ms, key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(ms, int) or not isinstance(key, str):
            raise ValueError
        return ms, key
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            400,
            f"query parameter '{name}' is not a cursor this server issued; "
            "pass back the value from the previous page unchanged",
        ) from None


def open_store(path: Path, what: str) -> sqlite3.Connection:
    """A read-only connection for one request (so data from a later `advance()` is served)."""
    if not path.exists():
        raise ApiError(503, f"the {what} store is not initialized yet ({path.name} is missing)")
    conn = sqlite3.connect(path, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA query_only = 1")
    return conn


def keyset_page(
    path: Path,
    what: str,
    table: str,
    time_column: str,
    since_ms: int | None,
    before_ms: int,
    after: tuple[int, str] | None,
    limit: int,
) -> tuple[list[sqlite3.Row], str | None]:
    """One page of rows with `since <= time < before`, after the cursor, and the next cursor."""
    if since_ms is not None and since_ms > before_ms:
        raise ApiError(400, "the window is empty: its start is after its end")
    where, args = [f"{time_column} < ?"], [before_ms]
    if since_ms is not None:
        where.append(f"{time_column} >= ?")
        args.append(since_ms)
    if after is not None:
        where.append(f"({time_column}, key) > (?, ?)")
        args.extend(after)
    sql = f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY {time_column}, key LIMIT ?"
    conn = open_store(path, what)
    try:
        rows = conn.execute(sql, [*args, limit + 1]).fetchall()
    finally:
        conn.close()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1][time_column], rows[-1]["key"])
