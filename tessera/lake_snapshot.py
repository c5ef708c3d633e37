"""What a build reads: the lake's visible batches and the dbt project, as a small snapshot two runs compare.

The transform DAG is scheduled on every raw stream's Asset, and an extract publishes its Asset even when
its batch landed no rows (a quiet stream must not hold the transform back), so a run may find nothing new.
The transform takes a snapshot before dbt reads the lake, and the publication keeps it beside the published
warehouse (`tessera.publication.publish_warehouse`). The next run takes one again: when the two are equal,
the published marts already are what a build would make, and the run skips dbt, the mart checks and the
publication (`anything_new` in the transform DAG).

Per registered stream the snapshot keeps how many batches are visible (`connectors.lake.is_visible`), the
newest one, and a digest of every visible batch's id, files (`batch_fingerprint`: names, sizes, modification
times) and when it became visible (`visible_at`): a new batch, a re-run that replaced one, a released hold and
a batch that left the lake all change it. The dbt project's files are digested too (models, macros, seeds, the
matcher), so a changed project is built. Taken before the build, a batch that lands while dbt runs is read by
the next run, never lost: at worst a run builds what an earlier one already read.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.home import TesseraHome

if TYPE_CHECKING:
    from connectors.contract import StreamContract

log = logging.getLogger(__name__)

#: What the dbt project digest leaves out: dbt's own output and caches, not inputs of a build.
_NOT_PROJECT = frozenset({"target", "logs", "dbt_packages", "__pycache__"})
#: How the snapshot names the dbt project among the changes (streams are named `source.stream`).
PROJECT = "dbt project"


@dataclass(frozen=True)
class StreamSnapshot:
    """One stream's visible batches: how many, the newest, and a digest of them all."""

    batches: int
    last_batch: str | None
    digest: str


@dataclass(frozen=True)
class LakeSnapshot:
    #: By stream name (`crm.contacts`), every registered stream, in the registry's order.
    streams: dict[str, StreamSnapshot]
    #: Digest of the dbt project's files.
    project: str

    def changes_since(self, earlier: LakeSnapshot | None) -> list[str]:
        """What differs from `earlier`: the streams whose visible batches changed, and `dbt project` if it did.
        Everything, when there is no earlier snapshot."""
        if earlier is None:
            return [*self.streams, PROJECT]
        changed = [name for name, stream in self.streams.items() if earlier.streams.get(name) != stream]
        changed += [name for name in earlier.streams if name not in self.streams]
        return changed + ([PROJECT] if earlier.project != self.project else [])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (an XCom value, and part of the publication's manifest)."""
        return {
            "streams": {
                name: {"batches": s.batches, "last_batch": s.last_batch, "digest": s.digest}
                for name, s in self.streams.items()
            },
            "project": self.project,
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> LakeSnapshot:
        return cls(
            streams={
                str(name): StreamSnapshot(int(s["batches"]), s["last_batch"], str(s["digest"]))
                for name, s in document["streams"].items()
            },
            project=str(document["project"]),
        )


def take_snapshot(home: TesseraHome) -> LakeSnapshot:
    """The lake's visible batches and the dbt project, as a build would read them now."""
    from connectors.registry import registry
    from tessera.resources import dbt_project_dir

    streams = {contract.name: stream_snapshot(home, contract) for contract in registry().streams}
    return LakeSnapshot(streams=streams, project=project_digest(dbt_project_dir()))


def stream_snapshot(home: TesseraHome, contract: StreamContract) -> StreamSnapshot:
    """One stream's visible batches, in batch order, digested with what makes each version of a batch."""
    from connectors.lake import BATCH_PREFIX, batch_ids, stream_dir
    from tessera.checks.volume import batch_order
    from tessera.warehouse_load import batch_fingerprint, visible_at

    folder = stream_dir(home.lake, "raw", contract.source, contract.stream)
    digest = hashlib.sha256()
    visible = []
    for batch_id in sorted(batch_ids(folder), key=batch_order):
        batch_folder = folder / f"{BATCH_PREFIX}{batch_id}"
        at = visible_at(batch_folder)
        if at is None:
            continue
        visible.append(batch_id)
        digest.update(f"{batch_id}\0{batch_fingerprint(batch_folder)}\0{at.isoformat()}\n".encode())
    return StreamSnapshot(batches=len(visible), last_batch=visible[-1] if visible else None, digest=digest.hexdigest())


def project_digest(project: Path) -> str:
    """The dbt project's files (relative paths and contents), without dbt's output or caches."""
    digest = hashlib.sha256()
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if not path.is_file() or _NOT_PROJECT & set(relative.parts) or relative.name.startswith("."):
            continue
        digest.update(f"{relative.as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def last_read(home: TesseraHome) -> LakeSnapshot | None:
    """The snapshot the published warehouse was built from, or None when nothing was published with one."""
    from tessera.publication import published_lake_snapshot

    document = published_lake_snapshot(home)
    return LakeSnapshot.from_dict(document) if document else None


def anything_new(home: TesseraHome) -> tuple[LakeSnapshot, list[str]]:
    """The lake as a build would read it now, and what changed since the published build read it
    (empty: nothing new, the published marts are current)."""
    now = take_snapshot(home)
    earlier = last_read(home)
    changed = now.changes_since(earlier)
    log.info(
        "new since the last publication: %s",
        ", ".join(changed) or "nothing",
        extra={"home": str(home.root), "changed": changed},
    )
    return now, changed
