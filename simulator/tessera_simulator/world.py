"""The simulator's own memory between days: people, which records stand for whom, and id counters.

It is saved as one folder of Parquet files per simulated day under `model/`, and
`state.json` names the current one, so an interrupted `advance()` restarts from a
consistent picture.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

TABLES = ("persons", "contacts", "members", "loyalty", "devices", "transactions")
COUNTERS = ("person", "contact", "subscriber", "event", "loyalty", "transaction")


def empty_tables() -> dict[str, pd.DataFrame]:
    return {
        "contacts": pd.DataFrame(
            {
                "contact_id": pd.Series(dtype=object),
                "person": pd.Series(dtype="int64"),
                "primary": pd.Series(dtype=bool),
                "archived": pd.Series(dtype=bool),
                "created_ms": pd.Series(dtype="int64"),
                "updated_ms": pd.Series(dtype="int64"),
            }
        ),
        "members": pd.DataFrame(
            {
                "subscriber_id": pd.Series(dtype=object),
                "person": pd.Series(dtype="int64"),
                "status": pd.Series(dtype=object),
                "email": pd.Series(dtype=object),
                "last_ms": pd.Series(dtype="int64"),
            }
        ),
        "loyalty": pd.DataFrame(
            {
                "loyalty_id": pd.Series(dtype=object),
                "person": pd.Series(dtype="int64"),
                "created_ms": pd.Series(dtype="int64"),
                "updated_ms": pd.Series(dtype="int64"),
            }
        ),
        "transactions": pd.DataFrame({"transaction_id": pd.Series(dtype=object), "person": pd.Series(dtype="int64")}),
    }


@dataclass
class World:
    persons: pd.DataFrame
    contacts: pd.DataFrame
    members: pd.DataFrame
    loyalty: pd.DataFrame
    devices: pd.DataFrame
    transactions: pd.DataFrame
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))

    def take_ids(self, counter: str, prefix: str, width: int, n: int) -> np.ndarray:
        """The next `n` ids of a kind, e.g. C0000124, C0000125 …"""
        start = self.counters[counter] + 1
        self.counters[counter] += n
        return np.array([f"{prefix}{k:0{width}d}" for k in range(start, start + n)], dtype=object)

    def append(self, table: str, rows: pd.DataFrame) -> None:
        if len(rows):
            setattr(self, table, pd.concat([getattr(self, table), rows], ignore_index=True))

    def save(self, folder: Path) -> None:
        """Write all tables to `folder`, replacing it whole."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in TABLES:
            getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)

    @classmethod
    def load(cls, folder: Path, counters: dict[str, int]) -> World:
        tables = {}
        for name in TABLES:
            frame = pd.read_parquet(folder / f"{name}.parquet")
            for col in frame.columns:
                if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col].dtype):
                    frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
            tables[name] = frame
        return cls(**tables, counters=dict(counters))
