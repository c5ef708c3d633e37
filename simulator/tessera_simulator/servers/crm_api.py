"""The CRM's HTTP API, shaped like HubSpot's contacts endpoint."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from tessera_simulator.crm import PROPERTIES
from tessera_simulator.servers.paging import decode_cursor, int_param, iso_param, keyset_page
from tessera_simulator.servers.stand_in import stand_in_app
from tessera_simulator.timestamps import iso_ms


def contact_json(row: sqlite3.Row) -> dict[str, Any]:
    """A contact as HubSpot sends it: every property a string or null."""
    malformed = row["malformed"]
    out: dict[str, Any] = {
        "id": "" if malformed == "empty_id" else row["key"],
        "properties": {name: row[name] for name in PROPERTIES},
        "createdAt": iso_ms(row["created_ms"]),
    }
    if malformed == "updated_at_not_a_date":
        out["updatedAt"] = "N/A"
    elif malformed != "updated_at_missing":
        out["updatedAt"] = iso_ms(row["updated_ms"])
    out["archived"] = bool(row["archived"])
    return out


def crm_app(sim_dir: Path, token: str) -> FastAPI:
    """`GET /crm/v3/contacts` over `sim_dir/crm.sqlite`, plus `/_faults` and `/_stats`."""
    store = Path(sim_dir) / "crm.sqlite"
    app = stand_in_app("CRM stand-in", token)

    @app.get("/crm/v3/contacts")
    def list_contacts(request: Request) -> dict[str, Any]:
        params = request.query_params
        since = iso_param(params, "updated_since", required=False)
        before = iso_param(params, "updated_before", required=True)
        limit = int_param(params, "limit", 100, 1, 500)
        after = decode_cursor(params, "after")
        rows, cursor = keyset_page(store, "CRM", "contacts", "updated_ms", since, before, after, limit)
        return {
            "results": [contact_json(r) for r in rows],
            "paging": {"next": {"after": cursor}} if cursor else None,
        }

    return app
