"""Deterministic randomness: every generator is seeded from (seed, purpose, day).

Seeding each purpose separately keeps one stream's data stable when another stream's
generator changes, and seeding by day makes `advance(2)` equal two `advance(1)` calls,
in one process or across a reopen.
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum

import numpy as np


class Purpose(IntEnum):
    POOLS = 1
    POPULATION = 2
    HISTORY = 3
    ARRIVALS = 4
    LIFE_EVENTS = 5
    CRM = 6
    ESP = 7
    POS = 8
    WEB = 9
    REGION = 10


def rng_for(seed: int, purpose: Purpose, day: date | None = None) -> np.random.Generator:
    """The generator for one purpose on one simulated day (or for the whole run)."""
    return np.random.default_rng([seed, int(purpose), day.toordinal() if day else 0])


def uuids(rng: np.random.Generator, n: int) -> list[str]:
    """Version-4 UUID strings drawn from `rng`, so identifiers repeat with the seed."""
    raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).astype(np.uint64)
    hi = (raw[:, 0] & np.uint64(0xFFFFFFFFFFFF0FFF)) | np.uint64(0x0000000000004000)
    lo = (raw[:, 1] & np.uint64(0x3FFFFFFFFFFFFFFF)) | np.uint64(0x8000000000000000)
    out = []
    for h, low in zip(hi.tolist(), lo.tolist(), strict=True):
        s = f"{h:016x}{low:016x}"
        out.append(f"{s[:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:]}")
    return out


def hex_tokens(rng: np.random.Generator, n: int, length: int = 16) -> list[str]:
    """Random lowercase hex strings, e.g. for card tokens and campaign ids."""
    raw = rng.integers(0, 2**62, size=n, dtype=np.int64)
    return [f"{v:016x}"[:length] for v in raw.tolist()]
