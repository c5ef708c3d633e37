"""One package per source system. `SOURCES` maps a source name to its stream factory."""

from __future__ import annotations

from collections.abc import Callable

from connectors.base import Stream
from connectors.connection import ConnectionInfo


def _factories() -> dict[str, Callable[[ConnectionInfo], list[Stream]]]:
    from connectors.sources import crm, esp, pos, web

    return {"crm": crm.streams, "email": esp.streams, "pos": pos.streams, "web": web.streams}


SOURCE_NAMES = ("crm", "email", "pos", "web")


def build_streams(source: str, conn: ConnectionInfo) -> list[Stream]:
    """The streams of one source, configured from its connection."""
    factories = _factories()
    if source not in factories:
        raise ValueError(f"unknown source {source!r}; known sources: {', '.join(SOURCE_NAMES)}")
    return factories[source](conn)
