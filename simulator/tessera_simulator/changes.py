"""A day's new and changed rows for one table, the unit every store writes in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class RowChanges:
    """Rows to insert and partial updates (key column + the columns each update sets)."""

    stream: str
    table: str
    key: str
    inserts: pd.DataFrame
    updates: list[pd.DataFrame] = field(default_factory=list)
    late: int = 0
    malformed: int = 0

    @property
    def written(self) -> int:
        """Distinct records this batch creates or changes."""
        keys = [self.inserts[self.key].to_numpy(dtype=object)] if len(self.inserts) else []
        keys += [u[self.key].to_numpy(dtype=object) for u in self.updates if len(u)]
        return len(np.unique(np.concatenate(keys))) if keys else 0


def python_rows(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    """Rows as tuples of plain Python values, with every kind of missing value as None."""
    cols = [python_values(frame[c]) for c in columns]
    return list(zip(*cols, strict=True))


def python_values(series: pd.Series) -> list:
    return series.to_numpy(dtype=object, na_value=None).tolist()


def object_values(series: pd.Series) -> np.ndarray:
    """A column as an object array with None for missing values (pandas may say NaN)."""
    return series.to_numpy(dtype=object, na_value=None)


def take(series: pd.Series, positions: np.ndarray) -> np.ndarray:
    """`object_values` of the rows at `positions` (converting only those rows)."""
    return object_values(series.iloc[positions])


def ensure_malformed(change: RowChanges, kinds: np.ndarray, rng: np.random.Generator) -> None:
    """Make sure a day that creates records creates at least one malformed one.

    Malformed records are rare (~0.3%), so a small world would otherwise go days without
    one; this keeps the quarantine path exercised at every scale. Only new records are
    made malformed: a record is broken from its creation and fixed by its next edit.
    """
    inserts = change.inserts
    if not len(inserts) or "malformed" not in inserts.columns or inserts["malformed"].notna().any():
        return
    pick = int(rng.integers(0, len(inserts)))
    inserts.iloc[pick, inserts.columns.get_loc("malformed")] = kinds[int(rng.integers(0, len(kinds)))]
    change.malformed += 1


def ensure_one(flags: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`flags` with at least one True when there is anything to flag (see `ensure_malformed`)."""
    if len(flags) and not flags.any():
        flags = flags.copy()
        flags[int(rng.integers(0, len(flags)))] = True
    return flags
