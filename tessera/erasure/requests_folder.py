"""Erasure requests dropped as files: `$TESSERA_HOME/requests/erasure/<any name>.json`, each a JSON object
naming one identifier (`{"email": "…"}`, `{"phone": "+44…"}`, `{"crm_id": "…"}`, `{"customer_id": "…"}`).

A served request moves to `done/`, its plain value replaced by its SHA-256 and the report beside it; a file
that is not a valid request moves to `rejected/` with the error, its values hashed too. A request that could
not be served now (a build holds the warehouse) stays where it is for the next run.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.destinations.hashing import sha256_hex
from connectors.durable import write_atomically
from tessera.erasure.requests import InvalidRequest, request_from_document
from tessera.erasure.service import forget
from tessera.home import TesseraHome

log = logging.getLogger(__name__)


def requests_folder(home: TesseraHome) -> Path:
    return home.root / "requests" / "erasure"


def pending_request_files(home: TesseraHome) -> list[Path]:
    folder = requests_folder(home)
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.exists() else []


def serve_request_files(home: TesseraHome) -> list[dict[str, Any]]:
    """Serve every request file waiting, oldest name first; one summary each (no plain values). Raises after
    trying them all if one could not be served, naming it, so the task fails and retries."""
    summaries, failures = [], []
    for path in pending_request_files(home):
        try:
            document = json.loads(path.read_text())
            if not isinstance(document, dict):
                raise InvalidRequest("a request file holds one JSON object")
            request = request_from_document(document)
        except (InvalidRequest, ValueError) as exc:
            _move(path, "rejected", {"error": str(exc), "hashed": _hashed(path)})
            summaries.append({"file": path.name, "outcome": "rejected", "error": str(exc)})
            continue
        try:
            report = forget(home, request)
        except Exception as exc:  # noqa: BLE001 - the other requests are still served
            log.exception("erasure request file %s could not be served; it stays for the next run", path.name)
            failures.append(f"{path.name}: {exc}")
            continue
        _move(
            path,
            "done",
            {
                "request": request.kind,
                "sha256": request.sha256,
                "served_at": datetime.now(UTC).isoformat(),
                "report": report.summary(),
            },
        )
        summaries.append({"file": path.name, **report.summary()})
    if failures:
        raise RuntimeError("erasure requests not served (retried by the next run): " + "; ".join(failures))
    return summaries


def _hashed(path: Path) -> Any:
    """What the rejected file held, with every value hashed: a bad request still names a person."""
    try:
        document = json.loads(path.read_text())
    except (ValueError, OSError):
        return {"sha256_of_file": sha256_hex(path.read_bytes().decode("utf-8", "replace"))}
    if isinstance(document, dict):
        return {str(key): sha256_hex(str(value)) for key, value in document.items()}
    return {"sha256_of_file": sha256_hex(json.dumps(document))}


def _move(path: Path, outcome: str, document: dict[str, Any]) -> Path:
    """Write the served (or rejected) version, durably, then remove the file holding the plain value."""
    target = path.parent / outcome / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, json.dumps(document, indent=1) + "\n")
    path.unlink()
    return target
