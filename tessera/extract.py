"""Extraction entry points shared by the Airflow extract DAGs and the `tessera extract` command."""

from __future__ import annotations

import logging
from datetime import datetime

from connectors.base import Window
from connectors.extraction import ExtractionResult, extract
from connectors.sources import build_streams
from tessera.catalog import STREAMS
from tessera.connections import connection_info
from tessera.home import TesseraHome, tessera_home

log = logging.getLogger(__name__)


def extract_source(
    source: str,
    start: datetime | None,
    end: datetime,
    *,
    streams: tuple[str, ...] | None = None,
    home: TesseraHome | None = None,
) -> list[ExtractionResult]:
    """Extract the window [start, end) of the given streams (default: all) of one source."""
    home = home or tessera_home()
    wanted = streams or STREAMS[source]
    unknown = set(wanted) - set(STREAMS[source])
    if unknown:
        raise ValueError(f"source {source!r} has no stream {sorted(unknown)}; it has {', '.join(STREAMS[source])}")
    window = Window(start, end)
    results = []
    for stream in build_streams(source, connection_info(source)):
        if stream.contract.stream in wanted:
            results.append(extract(stream, window, lake=home.lake, state_dir=home.state))
    return results
