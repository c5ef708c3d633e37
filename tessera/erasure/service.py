"""Serving one erasure request: `forget(home, request)`.

The order is what makes it safe to interrupt:
1. resolve the person (warehouse, then the lake's spellings) and save that plan under
   `erasure/pending/` before anything changes: the lake loses the spellings on the way, and a rerun after a
   crash needs them;
2. put their hashed identifiers on the suppression list, so an extraction running meanwhile drops them;
3. the lake, the connector state, the working warehouse, the published warehouse, a Spark build's tables, the
   text files, then the destinations (`tessera.activation.erasure`, when installed);
4. one audit event, then the pending plan goes.

Each step removes what is still there and counts it, so a rerun finishes what an interrupted run left and a
rerun of a finished request changes nothing (all counts 0). A request that names no one succeeds and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tessera.erasure.files import scrub_files
from tessera.erasure.lake import erase_from_lake, find_spellings
from tessera.erasure.requests import ErasureRequest
from tessera.erasure.resolve import ErasurePlan, load_plan, plan_path, resolve_in_warehouse, save_plan
from tessera.erasure.spark import erase_from_spark, has_spark_warehouse
from tessera.erasure.state import erase_from_state
from tessera.erasure.suppression import suppress
from tessera.erasure.warehouse import erase_from_published, erase_from_working
from tessera.home import TesseraHome

log = logging.getLogger(__name__)

ERASED = "erased"
NOT_FOUND = "no records found"


@dataclass
class ErasureReport:
    """What one request changed, by place; no plain identifier anywhere in it."""

    request: str  #: the kind of identifier the request named
    request_sha256: str
    outcome: str  #: `erased` or `no records found`
    customer_ids: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    destinations: list[dict] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "request_sha256": self.request_sha256,
            "outcome": self.outcome,
            "customer_ids": self.customer_ids,
            "changes": self.changes,
            "counts": dict(self.counts),
            "destinations": list(self.destinations),
        }


def forget(home: TesseraHome, request: ErasureRequest) -> ErasureReport:
    """Erase the person the request names from everything under `$TESSERA_HOME` and from the destinations."""
    plan = resolve_in_warehouse(home, request)
    pending = load_plan(home, request)
    if pending is not None:
        log.info("request %s was interrupted before: finishing it", request.describe())
        plan.merge(pending)
    find_spellings(home, plan)
    found = plan.found
    if found:
        save_plan(home, plan)
    counts: dict[str, int] = {"suppression_list": suppress(home, plan.suppression_identifiers())}
    if found:
        lake = erase_from_lake(home, plan)
        counts["lake_raw_rows"] = lake.rows["raw"]
        counts["lake_raw_files"] = lake.files["raw"]
        counts["quarantine_rows"] = lake.rows["quarantine"]
        counts["quarantine_files"] = lake.files["quarantine"]
        counts["state_entries"] = erase_from_state(home, plan)
        counts["warehouse_rows"] = erase_from_working(home, plan).total
        counts["published_rows"] = erase_from_published(home, plan).total
        if has_spark_warehouse(home):  # a Spark build's own tables (tessera/erasure/spark.py)
            counts["spark_rows"] = erase_from_spark(home, plan).total
        counts["text_files"] = scrub_files(home, plan)
    destinations = _propagate(home, plan)
    counts["destination_changes"] = sum(1 for summary in destinations if summary.get("status") == "done")
    report = ErasureReport(
        request=request.kind,
        request_sha256=request.sha256,
        outcome=ERASED if found else NOT_FOUND,
        customer_ids=len(plan.customer_ids),
        counts=counts,
        destinations=destinations,
    )
    _audit(home, plan, report)
    plan_path(home, request).unlink(missing_ok=True)
    log.info("erasure request %s: %s, %d changes", request.describe(), report.outcome, report.changes)
    return report


def _propagate(home: TesseraHome, plan: ErasurePlan) -> list[dict]:
    """Carry the erasure to the destinations and their sync state, when that part is installed."""
    try:
        from tessera.activation.erasure import propagate_erasure
    except ImportError:
        log.info("no activation erasure installed: destinations are not told")
        return []
    return propagate_erasure(home, sorted(plan.customer_ids), plan.activation_identifiers())


def _audit(home: TesseraHome, plan: ErasurePlan, report: ErasureReport) -> None:
    try:
        from tessera.audit import record_event
    except ImportError:
        return
    from connectors.destinations.hashing import sha256_hex

    hashes = sorted({plan.request.sha256} | {sha256_hex(value) for _, value in plan.activation_identifiers()})
    record_event(
        home,
        "erasure",
        request=report.request,
        identifiers_sha256=hashes,
        counts=report.counts,
        outcome=report.outcome,
    )
