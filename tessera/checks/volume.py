"""The volume check: is a batch's row count in line with the stream's recent batches?

A batch far smaller than usual is the sign of a source that half-failed (an API that returned one page,
a drop folder that was half-copied); far larger, of a replay. The suite's row-count expectation takes
its bounds as parameters (`volume_min`, `volume_max`), worked out here from the row counts of the
previous visible batches of the same stream and the band in the expectation's `meta.volume_band`:
bounds are `low` × the smallest and `high` × the largest of the last `history` counts. With fewer than
`min_history` batches to go by, there is no band yet and the check passes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

_BATCH_TIME = re.compile(r"(\d{8}T\d{6}Z)")


@dataclass(frozen=True)
class VolumeBand:
    history: int = 14  #: how many previous visible batches to compare with
    min_history: int = 5  #: below this many, no band: the check passes
    low: float = 0.25  #: the smallest allowed count, as a share of the smallest recent count
    high: float = 4.0  #: the largest allowed count, as a multiple of the largest recent count

    @classmethod
    def from_meta(cls, meta: Any, where: str) -> VolumeBand:
        """Read `meta.volume_band`; `where` (file and expectation) prefixes any error."""
        from tessera.checks.suites import SuiteError

        if not isinstance(meta, dict):
            raise SuiteError(f"{where}: meta.volume_band must be a mapping, not {meta!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(meta) - known)
        if unknown:
            raise SuiteError(
                f"{where}: meta.volume_band has unknown key(s) {', '.join(unknown)}; use {', '.join(known)}"
            )
        band = cls(**meta)
        for name in ("history", "min_history"):
            value = getattr(band, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SuiteError(f"{where}: meta.volume_band.{name} must be a whole number ≥ 1, not {value!r}")
        if band.min_history > band.history:
            raise SuiteError(
                f"{where}: meta.volume_band.min_history ({band.min_history}) exceeds history ({band.history})"
            )
        for name in ("low", "high"):
            value = getattr(band, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise SuiteError(f"{where}: meta.volume_band.{name} must be a number ≥ 0, not {value!r}")
        if band.low > 1 or band.high < 1:
            raise SuiteError(f"{where}: meta.volume_band needs low ≤ 1 ≤ high, got low={band.low}, high={band.high}")
        return band

    def bounds(self, counts: list[int]) -> tuple[int | None, int | None]:
        """(min, max) rows for the next batch, from the recent counts (oldest first); (None, None) while
        there are too few of them."""
        recent = counts[-self.history :]
        if len(recent) < self.min_history:
            return None, None
        return math.floor(min(recent) * self.low), math.ceil(max(recent) * self.high)


def batch_order(batch_id: str) -> tuple[str, int, str]:
    """Batches in the order they cover time. A batch id is its interval's start (`20260102T000000Z`); a first
    run's `upto-<end>` covers everything before `<end>`, so it comes before the batch starting at `<end>`."""
    found = _BATCH_TIME.search(batch_id)
    return (found.group(1) if found else "", 0 if batch_id.startswith("upto-") else 1, batch_id)


def batch_rows(folder: Path) -> int:
    """Rows in a batch folder, from its Parquet footers (no data is read)."""
    from connectors.lake import batch_files, open_parquet

    return sum(open_parquet(part).metadata.num_rows for part in batch_files(folder))


def previous_counts(stream_folder: Path, batch_id: str, history: int) -> list[int]:
    """Row counts of the last `history` visible batches before `batch_id` in a stream folder, oldest first."""
    from connectors.lake import BATCH_PREFIX, batch_ids, is_visible

    current = batch_order(batch_id)
    earlier = sorted((b for b in batch_ids(stream_folder) if batch_order(b) < current), key=batch_order)
    visible = [b for b in earlier if is_visible(stream_folder / f"{BATCH_PREFIX}{b}")]
    return [batch_rows(stream_folder / f"{BATCH_PREFIX}{b}") for b in visible[-history:]]
