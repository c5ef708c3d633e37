"""The run report (`tessera report`): one self-contained HTML page of the home's figures, with charts.

- `write_report(home)`: gather, render and write `$TESSERA_HOME/reports/report-<time>.html` and `latest.html`.
- `record_publication(home, published_at)`: append the published warehouse's mart and segment counts to the
  history the report draws segment sizes over time from; call it after each publication.

Gathering (`gather.py`) reads aggregates only; charts (`charts.py`) are matplotlib SVG inlined in the page
(`page.py`, `report.html.j2`). See docs/report.md.
"""

from __future__ import annotations

from tessera.report.history import record_publication, reports_dir
from tessera.report.page import LATEST, write_report

__all__ = ["LATEST", "record_publication", "reports_dir", "write_report"]
