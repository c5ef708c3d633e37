"""The Collect step's entry point, shared by the Airflow extract DAGs and the `tessera extract` command:
one source's registered streams, configured from its Airflow connection, extracted for one window."""

from __future__ import annotations

import logging
from datetime import datetime

from connectors.base import Window
from connectors.extraction import ExtractionResult, extract
from connectors.registry import registry
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
    spec = registry().source(source)
    wanted = streams or spec.stream_names
    for name in wanted:
        spec.stream(name)  # raises, naming the source's streams, for an unknown one
    window = Window(start, end)
    results = []
    for stream in spec.build_streams(connection_info(source)):
        if stream.contract.stream in wanted:
            result = extract(stream, window, lake=home.lake, state_dir=home.state)
            _audit(home, result, window)
            results.append(result)
    return results


def _audit(home: TesseraHome, result: ExtractionResult, window: Window) -> None:
    """The audit log's line for one extraction: what landed, what was quarantined and why (reasons masked)."""
    from connectors.masking import mask_text
    from tessera.audit import record_event

    record_event(
        home,
        "extraction",
        stream=f"{result.source}.{result.stream}",
        batch_id=result.batch_id,
        window=[window.start, window.end],
        rows=result.rows,
        quarantined=result.quarantined,
        reasons={mask_text(str(reason)): n for reason, n in result.reasons.items()},
    )
