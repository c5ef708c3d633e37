"""Web events from hourly gzip JSON-lines drops laid out as `YYYY/MM/DD/HH/*.jsonl.gz`.

A file counts as complete once it has its final `.jsonl.gz` name (writers rename into place),
and an hour's files are read once that hour is over by the window's end. Files that arrive
late for an hour already extracted are picked up by the next run: the manifest, not the
clock, says what was processed.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.base import FileDropStream, FileLine, Stream
from connectors.connection import ConnectionInfo
from connectors.contract import contract_for
from connectors.records import RecordError, parse_timestamp, text

EVENT_TYPES = frozenset({"page", "track", "identify"})
SUFFIX = ".jsonl.gz"


def file_hour(name: str) -> datetime | None:
    """The hour a dropped file belongs to, from its `YYYY/MM/DD/HH/` folders."""
    parts = Path(name).parts
    if len(parts) < 5:
        return None
    try:
        y, m, d, h = (int(p) for p in parts[-5:-1])
        return datetime(y, m, d, h, tzinfo=UTC)
    except ValueError:
        return None


class WebEvents(FileDropStream):
    contract = contract_for("web", "events")

    def __init__(self, root: Path, page_size: int = 10_000):
        self.root = Path(root)
        self.page_size = page_size

    def list_files(self, before: datetime) -> list[str]:
        if not self.root.exists():
            raise RuntimeError(f"web: drop folder {self.root} does not exist")
        names = []
        for path in self.root.glob(f"*/*/*/*/*{SUFFIX}"):
            name = path.relative_to(self.root).as_posix()
            hour = file_hour(name)
            if hour is not None and hour + timedelta(hours=1) <= before:
                names.append(name)
        return sorted(names)

    def read_file(self, name: str) -> Iterator[list[FileLine]]:
        path = self.root / name
        if not path.exists():
            raise RuntimeError(f"web: {path} was processed by this batch before but is no longer in the drop folder")
        page: list[FileLine] = []
        lineno = 0
        try:
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
                for lineno, line in enumerate(fh, start=1):  # noqa: B007 (lineno is used after the loop)
                    line = line.rstrip("\n")
                    if not line.strip():
                        continue
                    page.append(FileLine(name, lineno, line))
                    if len(page) >= self.page_size:
                        yield page
                        page = []
        except (EOFError, OSError, zlib.error) as exc:
            # A damaged file is kept whole in quarantine: nothing is dropped.
            payload = base64.b64encode(path.read_bytes()).decode()
            page.append(FileLine(name, lineno + 1, f"__undecodable__:{type(exc).__name__}: {exc}:{payload}"))
        if page:
            yield page

    def parse(self, raw: FileLine) -> dict[str, Any]:
        if raw.text.startswith("__undecodable__:"):
            raise RecordError(f"file is damaged after line {raw.line - 1} (payload is the whole file, base64)")
        try:
            event = json.loads(raw.text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
        if not isinstance(event, dict):
            raise RecordError("event is not a JSON object")
        event_type = text(event.get("type"))
        if event_type is not None and event_type not in EVENT_TYPES:
            raise RecordError(f"type {event_type!r} is not one of page, track, identify")
        context = event.get("context") or {}
        page = context.get("page") or {}
        traits = event.get("traits") or context.get("traits") or {}
        properties = event.get("properties")
        return {
            "message_id": text(event.get("messageId")),
            "type": event_type,
            "event": text(event.get("event")),
            "anonymous_id": text(event.get("anonymousId")),
            "user_id": text(event.get("userId")),
            "email": text(traits.get("email")) if isinstance(traits, dict) else None,
            "url": text(page.get("url")),
            "referrer": text(page.get("referrer")),
            "user_agent": text(context.get("userAgent")),
            "ip": text(context.get("ip")),
            "properties": json.dumps(properties, sort_keys=True) if properties is not None else None,
            "occurred_at": parse_timestamp(event.get("timestamp"), "timestamp"),
        }


def streams(conn: ConnectionInfo) -> list[Stream]:
    folder = conn.extra.get("path") or conn.host
    if not folder:
        raise ValueError(f"connection {conn.conn_id!r}: set extra.path to the web event drop folder")
    return [WebEvents(Path(folder), conn.option("page_size", 10_000, int))]
