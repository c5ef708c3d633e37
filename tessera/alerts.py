"""Failure alerts for Tessera's DAGs: one structured log line a log-based alert can match.

Teams that want email or chat alerts add an Airflow notifier to `on_failure_callback`
next to this one; the line stays the common denominator.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("tessera.alerts")


def on_task_failure(context: dict[str, Any]) -> None:
    ti = context.get("task_instance") or context.get("ti")
    log.error(
        "TESSERA ALERT task failed: dag=%s task=%s run=%s try=%s error=%s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        getattr(ti, "run_id", "?"),
        getattr(ti, "try_number", "?"),
        context.get("exception"),
    )
