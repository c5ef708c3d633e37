"""Running syncs the way both Airflow tasks and `tessera sync` do: activations from the manifest,
connections from Airflow, one sync per (segment, destination)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tessera.activation.activations import Activation, read_activations
from tessera.activation.engine import SyncResult, run_id_for, sync
from tessera.home import TesseraHome


class SyncFailed(RuntimeError):
    """A sync ended failed: the message names the segment, the destination and the destination's error."""


def activations(segment: str | None = None, destination: str | None = None) -> list[Activation]:
    """The manifest's activations, narrowed to one segment and/or destination (an error if none match)."""
    from tessera.resources import manifest_path

    path = manifest_path()
    if not path.exists():
        raise FileNotFoundError(f"no dbt manifest at {path}: run `tessera dbt-parse` (make install does)")
    every = read_activations(path)
    chosen = [
        a
        for a in every
        if (segment is None or a.segment == segment) and (destination is None or a.destination == destination)
    ]
    if not chosen:
        known = ", ".join(sorted({a.name for a in every})) or "none"
        wanted = " and ".join(f"{k} {v!r}" for k, v in (("segment", segment), ("destination", destination)) if v)
        raise LookupError(f"no activation matches {wanted or 'anything'}; activations: {known}")
    return chosen


def run_sync(
    home: TesseraHome,
    activation: Activation,
    *,
    logical_date: datetime | None = None,
    dry_run: bool = False,
    full_resync: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> SyncResult:
    from tessera.connections import destination_connection

    conn = destination_connection(activation.destination)
    result = sync(
        home,
        activation,
        conn,
        run_id=run_id_for(logical_date),
        dry_run=dry_run,
        full_resync=full_resync,
        progress=progress,
    )
    if not dry_run:
        from tessera.audit import record_event

        record_event(home, "sync", full_resync=full_resync, **summary_of(result))
    return result


def sync_task(segment: str, destination: str, logical_date: datetime | None = None) -> dict:
    """The activation DAGs' task: one sync; a failed sync fails the task with the destination's error."""
    from tessera.home import tessera_home

    (activation,) = activations(segment, destination)
    result = run_sync(tessera_home(), activation, logical_date=logical_date)
    summary = summary_of(result)
    if result.failed:
        raise SyncFailed(f"sync {activation.name} failed: {result.error} (confirmed so far: {summary})")
    return summary


def summary_of(result: SyncResult) -> dict:
    return {
        "segment": result.segment,
        "destination": result.destination,
        "status": result.status,
        "members": result.members,
        "added": result.added,
        "updated": result.updated,
        "removed": result.removed,
        "invalid": result.invalid,
        "rejected": result.rejected,
        "retried": result.retried,
        "excluded": result.excluded,
        **({"location": result.location} if result.location else {}),
    }
