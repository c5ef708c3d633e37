"""The person out of the connector state (`$TESSERA_HOME/state/<source>/<stream>.json`).

The state keeps, per cursor stream, the fingerprints of recently landed records (`seen`, to skip them when
the lookback window reads them again) and the cursor: the newest record's time and key. Their fingerprints
go, from the current state and from every committed batch's start state. A cursor whose key is one of their
record ids keeps its time and loses its key: the time alone says where the next read starts, so the cursor
does not move back and nothing is read again because of the erasure (what the lookback reads again is
dropped by the suppression list).
"""

from __future__ import annotations

import logging
from typing import Any

from connectors.registry import registry
from connectors.state import StateStore
from tessera.erasure.resolve import ErasurePlan
from tessera.home import TesseraHome

log = logging.getLogger(__name__)


def erase_from_state(home: TesseraHome, plan: ErasurePlan) -> int:
    """Remove the person's fingerprints and cursor keys from every stream's state; returns how many entries went."""
    tokens = plan.exact_tokens()
    removed_total = 0
    for contract in registry().streams:
        store = StateStore(home.state, contract.source, contract.stream)
        if not store.path.exists():
            continue
        fingerprints = plan.fingerprints.get(contract.name, set())
        with store.lock():
            state = store.load()
            removed = _scrub(state.current, fingerprints, tokens)
            for batch in state.batches.values():
                removed += _scrub(batch.start_state, fingerprints, tokens)
            if removed:
                store.save(state)
                log.info("erased %d entries from the state of %s", removed, contract.name)
        removed_total += removed
    return removed_total


def _scrub(document: dict[str, Any], fingerprints: set[str], tokens: set[str]) -> int:
    removed = 0
    seen = document.get("seen")
    if isinstance(seen, dict):
        for fp in fingerprints & set(seen):
            del seen[fp]
            removed += 1
    cursor = document.get("cursor")
    if isinstance(cursor, dict) and str(cursor.get("key") or "").strip().lower() in tokens:
        cursor["key"] = ""
        removed += 1
    return removed
