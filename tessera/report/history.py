"""One line per publication, so the report can draw what the published warehouse alone cannot: how the
golden table and each segment grew from one build to the next.

The published warehouse is a snapshot: it holds today's segments, not yesterday's. `int_customer_id_history`
keeps customer ids over time, and the sync log keeps the members each sync sent, but a segment that no
destination syncs, or a build between two syncs, leaves no trace anywhere else. So each publication
appends its mart and segment row counts to `$TESSERA_HOME/reports/publications.jsonl`, counts only: no
customer id, no e-mail. Appending a line is cheap and a lost line only thins the chart, so a failure to
record is logged, never raised: it must not fail the publication it describes.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from tessera.home import TesseraHome

log = logging.getLogger(__name__)

SEGMENTS_SCHEMA = "segments"


def reports_dir(home: TesseraHome) -> Path:
    """Where a home keeps its run reports and the publication history they draw from."""
    return home.root / "reports"


def history_path(home: TesseraHome) -> Path:
    return reports_dir(home) / "publications.jsonl"


def published_counts(con) -> dict[str, Any]:
    """Rows per marts table and per segment, on an open connection to a published warehouse."""
    from tessera.publication import mart_table_counts

    segments = [
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ? order by table_name",
            [SEGMENTS_SCHEMA],
        ).fetchall()
    ]
    return {
        "marts": mart_table_counts(con),
        "segments": {
            name: con.execute(f'select count(*) from {SEGMENTS_SCHEMA}."{name}"').fetchone()[0] for name in segments
        },
    }


def record_publication(home: TesseraHome, published_at: datetime) -> dict[str, Any] | None:
    """Append the published warehouse's counts to the history; call it right after a publication.

    Returns the line written, or None when it could not be recorded (logged as a warning)."""
    from tessera.publication import published_path

    path = published_path(home)
    try:
        import duckdb

        con = duckdb.connect(str(path), read_only=True)
        try:
            counts = published_counts(con)
        finally:
            con.close()
        line = {"published_at": published_at.isoformat(), **counts}
        _append_line(history_path(home), line)
    except Exception:  # noqa: BLE001 - a chart's data point is not worth failing the publication for
        log.warning("could not record the publication of %s in the report history", path, exc_info=True)
        return None
    return line


def publication_history(home: TesseraHome) -> list[dict[str, Any]]:
    """Every recorded publication, oldest first; a torn last line (a crash while appending) is skipped."""
    path = history_path(home)
    if not path.exists():
        return []
    lines = []
    for text in path.read_text().splitlines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(line, dict) and "published_at" in line:
            lines.append(line)
    return sorted(lines, key=lambda line: line["published_at"])


def _append_line(path: Path, document: dict[str, Any]) -> None:
    """One line, written in one call to a file opened for appending, then synced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as out:
        out.write(json.dumps(document, sort_keys=True) + "\n")
        out.flush()
        os.fsync(out.fileno())
