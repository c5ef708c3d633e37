"""The data-quality gates the pipeline passes through, as the Airflow tasks and `tessera transform` call them.

- After each extraction: the batch it landed is checked; a critical failure holds it and fails the task.
- Before dbt reads the lake: batches still pending (landed by another loader) are checked; held ones
  are simply not read, so one bad batch does not stop the others.
- After dbt: the marts are checked; a critical failure fails the step and nothing is published.
The checks themselves, their suites and results live in `tessera/checks/` and `expectations/`.
"""

from __future__ import annotations

import logging
from typing import Any

from tessera.home import TesseraHome, tessera_home

log = logging.getLogger(__name__)


def check_landed_batch(source: str, stream: str, batch_id: str, home: TesseraHome | None = None) -> dict[str, Any]:
    """Check the batch an extraction just landed; raise `CheckFailed` (naming what failed) if it is held."""
    from connectors.lake import batch_dir
    from connectors.registry import registry
    from tessera.checks import check_batch, raise_on_critical

    home = home or tessera_home()
    contract = registry().contract(source, stream)
    if not batch_dir(home.lake, "raw", source, stream, batch_id).exists():
        log.info("%s batch %s landed no rows: nothing to check", contract.name, batch_id)
        return {"stream": contract.name, "batch_id": batch_id, "checked": False}
    result = check_batch(home, contract, batch_id)
    raise_on_critical([result])
    return {"stream": contract.name, "batch_id": batch_id, "checked": True, "warnings": len(result.warnings)}


def check_pending_batches(home: TesseraHome | None = None) -> dict[str, Any]:
    """Check every published batch not checked yet; held ones are reported, not raised: they stay unread.
    Streams with nothing the transform can read yet are named: a company that has connected only some of
    its sources builds from those, and the others are empty, not an error."""
    from tessera.checks import check_pending

    home = home or tessera_home()
    results = check_pending(home)
    held = [r for r in results if r.critical]
    for result in held:
        log.warning("held: %s", result.message())
    empty = streams_without_visible_batches(home)
    if empty:
        log.warning("no batch to read yet for %s: these sources are empty in this build", ", ".join(empty))
    return {"checked": len(results), "held": len(held), "streams_without_batches": empty}


def streams_without_visible_batches(home: TesseraHome) -> list[str]:
    """Registered streams none of whose batches the transform may read (none landed, or none checked)."""
    from connectors.lake import BATCH_PREFIX, batch_ids, is_visible, stream_dir
    from connectors.registry import registry

    empty = []
    for contract in registry().streams:
        folder = stream_dir(home.lake, "raw", contract.source, contract.stream)
        if not any(is_visible(folder / f"{BATCH_PREFIX}{batch_id}") for batch_id in batch_ids(folder)):
            empty.append(contract.name)
    return empty


def check_built_marts(home: TesseraHome | None = None) -> dict[str, Any]:
    """Check the marts dbt just built; raise `CheckFailed` on a critical failure, so nothing is published."""
    from tessera.checks import check_marts, raise_on_critical

    results = check_marts(home or tessera_home())
    raise_on_critical(results)
    return {"suites": len(results), "warnings": sum(len(r.warnings) for r in results)}
