"""A cursor stream over an in-memory list: a test double of the *stream interface*, for unit tests
of the extraction runner's state, lake and recovery logic (integration tests use the real sources)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from connectors.base import CursorStream
from connectors.contract import contract_for
from connectors.records import RecordError, parse_timestamp, text


class MemoryEvents(CursorStream):
    """Records shaped like ESP events, served from `self.records` in (timestamp, id) order."""

    contract = contract_for("email", "events")
    cursor_field = "occurred_at"

    def __init__(self, records: list[dict[str, Any]], page_size: int = 3, lookback=timedelta(hours=1)):
        self.records = records
        self.page_size = page_size
        self.lookback = lookback
        self.fetches: list[tuple[datetime | None, datetime]] = []

    def fetch(self, since, before) -> Iterator[list[Any]]:
        self.fetches.append((since, before))
        chosen = sorted(
            (r for r in self.records if (since is None or r["_ts"] >= since) and r["_ts"] < before),
            key=lambda r: (r["_ts"], r["id"]),
        )
        for i in range(0, len(chosen), self.page_size):
            yield [{k: v for k, v in r.items() if k != "_ts"} for r in chosen[i : i + self.page_size]]

    def parse(self, raw: dict[str, Any]) -> dict[str, Any]:
        if raw.get("type") == "bogus":
            raise RecordError("type 'bogus' is not an event type")
        return {
            "event_id": text(raw.get("id")),
            "subscriber_id": None,
            "email": text(raw.get("email")),
            "campaign_id": None,
            "event_type": text(raw.get("type")),
            "url": None,
            "occurred_at": parse_timestamp(raw.get("timestamp"), "timestamp"),
        }


def event(event_id: str, ts: datetime, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "type": "open", "timestamp": ts.isoformat(), "_ts": ts, **fields}


def extract_and_die_after_commit(home, start: datetime, events: int = 4):
    """Run an extraction of `events` events from `start` in a real process that dies (exit 9) right after it
    committed its state, before `_SUCCESS`: what a killed worker leaves behind."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    script = textwrap.dedent(
        f"""
        import os
        from datetime import datetime, timedelta
        from pathlib import Path
        from connectors.base import Window
        from connectors.extraction import extract
        from connectors.lake_storage import lake_path
        from connectors.state import StateStore
        from tests.connectors.memory_stream import MemoryEvents, event
        save = StateStore.save
        def save_then_die(self, state):
            save(self, state)
            os._exit(9)
        StateStore.save = save_then_die
        start = datetime.fromisoformat({start.isoformat()!r})
        stream = MemoryEvents([event(f"e{{i}}", start + timedelta(hours=i)) for i in range({events})])
        extract(stream, Window(start, start + timedelta(days=1)), lake=lake_path({str(home.lake)!r}),
                state_dir=Path({str(home.state)!r}))
        """
    )
    repo = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True, text=True)
