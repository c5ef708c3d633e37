"""The interface every source connector implements.

Two kinds of stream cover the sources we meet: `CursorStream` for APIs and databases that
can filter by a timestamp (with the record key as tie-breaker), and `FileDropStream` for
folders where another system drops files. The extraction runner (`extraction.py`) owns
state, lake writes and quarantine, so a connector only knows how to fetch and parse.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.contract import StreamContract
from connectors.records import to_json


@dataclass(frozen=True)
class Window:
    """The half-open extraction window [start, end): an Airflow run's data interval."""

    start: datetime | None
    end: datetime

    def __post_init__(self) -> None:
        if self.end.tzinfo is None:
            raise ValueError(f"window end must be timezone-aware, got {self.end!r}")
        if self.start is not None and self.start > self.end:
            raise ValueError(f"window start {self.start} is after its end {self.end}")

    def batch_id(self) -> str:
        """A batch id derived from the window only, so re-running an interval replaces its batch:
        the interval's start, or `upto-<end>` for an open window (a first full load)."""
        if self.start is None:
            return "upto-" + self.end.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return self.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


class Stream(ABC):
    """One stream of one source, landing under one contract."""

    contract: StreamContract

    @abstractmethod
    def parse(self, raw: Any) -> dict[str, Any]:
        """Map one raw record to a contract row (without metadata); raise RecordError if it can't land."""

    def record_json(self, raw: Any) -> str:
        """The original record as JSON text, kept in `_record` and in quarantine."""
        return to_json(raw)

    def record_id(self, raw: Any) -> str | None:
        """Where a person finds this record in the source (its id, or file and line)."""
        if isinstance(raw, dict):
            value = raw.get("id")
            return str(value) if value not in (None, "") else None
        return None


class CursorStream(Stream):
    """A stream read by a (timestamp, key) cursor, re-reading `lookback` to catch late arrivals."""

    cursor_field: str
    lookback: timedelta = timedelta(hours=6)

    @abstractmethod
    def fetch(self, since: datetime | None, before: datetime) -> Iterator[list[Any]]:
        """Yield pages of raw records with since <= cursor < before, in (cursor, key) order."""


@dataclass(frozen=True)
class FileLine:
    """One line of a dropped file, with where it came from (for quarantine and lineage)."""

    file: str
    line: int
    text: str


class FileDropStream(Stream):
    """A stream read from files dropped in a folder, tracked by a manifest of processed files."""

    @abstractmethod
    def list_files(self, before: datetime) -> list[str]:
        """Names of complete files whose data is older than `before`, in a stable order."""

    @abstractmethod
    def read_file(self, name: str) -> Iterator[list[FileLine]]:
        """Yield pages of lines from one file."""

    def record_json(self, raw: FileLine) -> str:
        return raw.text

    def record_id(self, raw: FileLine) -> str:
        return f"{raw.file}:{raw.line}"
