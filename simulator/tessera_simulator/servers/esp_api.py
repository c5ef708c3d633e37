"""The email platform's HTTP API, shaped like Mailchimp's members and activity endpoints."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from tessera_simulator.servers.paging import decode_cursor, int_param, iso_param, keyset_page
from tessera_simulator.servers.stand_in import stand_in_app
from tessera_simulator.timestamps import iso_ms

#: What a broken event carries instead of a timestamp.
GARBAGE_TIMESTAMPS = ("N/A", "not-a-date", "2026-13-45T25:61:00Z", "", "yesterday", "0000-00-00 00:00:00")


def member_json(row: sqlite3.Row) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row["key"]}
    if row["malformed"] != "email_missing":
        out["email_address"] = row["email_address"]
    out["status"] = row["status"]
    out["merge_fields"] = {"FNAME": row["fname"] or "", "LNAME": row["lname"] or ""}
    out["timestamp_opt"] = iso_ms(row["timestamp_opt_ms"]) if row["timestamp_opt_ms"] is not None else None
    out["last_changed"] = iso_ms(row["last_changed_ms"])
    return out


def event_json(row: sqlite3.Row) -> dict[str, Any]:
    malformed = row["malformed"]
    out: dict[str, Any] = {
        "id": row["key"],
        "subscriber_id": row["subscriber_id"],
        "email": row["email"],
        "campaign_id": row["campaign_id"],
    }
    if malformed != "type_missing":
        out["type"] = row["type"]
    out["url"] = row["url"]
    if malformed == "timestamp_garbage":
        out["timestamp"] = GARBAGE_TIMESTAMPS[int(row["key"][1:]) % len(GARBAGE_TIMESTAMPS)]
    else:
        out["timestamp"] = iso_ms(row["ts_ms"])
    return out


def esp_app(sim_dir: Path, token: str) -> FastAPI:
    """`GET /3.0/members` and `GET /3.0/events` over `sim_dir/esp.sqlite`, plus `/_faults` and `/_stats`."""
    store = Path(sim_dir) / "esp.sqlite"
    app = stand_in_app("Email platform stand-in", token)

    @app.get("/3.0/members")
    def list_members(request: Request) -> dict[str, Any]:
        params = request.query_params
        since = iso_param(params, "since_last_changed", required=False)
        before = iso_param(params, "before_last_changed", required=True)
        count = int_param(params, "count", 100, 1, 1000)
        after = decode_cursor(params, "cursor")
        rows, cursor = keyset_page(store, "email", "members", "last_changed_ms", since, before, after, count)
        return {"members": [member_json(r) for r in rows], "next_cursor": cursor}

    @app.get("/3.0/events")
    def list_events(request: Request) -> dict[str, Any]:
        params = request.query_params
        since = iso_param(params, "since", required=False)
        before = iso_param(params, "before", required=True)
        count = int_param(params, "count", 100, 1, 1000)
        after = decode_cursor(params, "cursor")
        rows, cursor = keyset_page(store, "email", "events", "ts_ms", since, before, after, count)
        return {"events": [event_json(r) for r in rows], "next_cursor": cursor}

    return app
