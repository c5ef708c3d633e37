"""The knobs of a simulated world: how many people, which seed, when it starts, where POS lives, its shape."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

#: The shapes a world can take: people spread over many cities with varied surnames, or the customers of a
#: regional shop (a dozen towns, common surnames, households, card-only shoppers; see `regional.py`).
WORLDS = ("diverse", "regional")


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that determines the data: the same config and calls give the same stores."""

    customers: int = 1000
    seed: int = 42
    start_date: date = date(2026, 1, 1)
    pos_url: str | None = None
    world: str = "diverse"
    #: Days of activity the stores already hold at the start date (sign-ups go back a year regardless).
    history_days: int = 30

    def __post_init__(self) -> None:
        if isinstance(self.start_date, datetime):
            object.__setattr__(self, "start_date", self.start_date.date())
        if isinstance(self.customers, bool) or not isinstance(self.customers, int) or self.customers < 10:
            raise ValueError(f"SimulatorConfig.customers must be an integer >= 10, got {self.customers!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"SimulatorConfig.seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.start_date, date):
            raise ValueError(f"SimulatorConfig.start_date must be a date, got {self.start_date!r}")
        if self.pos_url is not None and not isinstance(self.pos_url, str):
            raise ValueError(f"SimulatorConfig.pos_url must be a SQLAlchemy URL string or None, got {self.pos_url!r}")
        if isinstance(self.history_days, bool) or not isinstance(self.history_days, int) or self.history_days < 7:
            raise ValueError(f"SimulatorConfig.history_days must be an integer >= 7, got {self.history_days!r}")
        if self.world not in WORLDS:
            raise ValueError(f"SimulatorConfig.world must be one of {', '.join(WORLDS)}, got {self.world!r}")

    def to_dict(self) -> dict[str, Any]:
        """The config as `state.json` keeps it. The world and the history are written only when they are not
        the defaults, so a default world's state file stays exactly as it was before they could be chosen."""
        data = {
            "customers": self.customers,
            "seed": self.seed,
            "start_date": self.start_date.isoformat(),
            "pos_url": self.pos_url,
        }
        if self.world != "diverse":
            data["world"] = self.world
        if self.history_days != 30:
            data["history_days"] = self.history_days
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulatorConfig:
        return cls(
            customers=int(data["customers"]),
            seed=int(data["seed"]),
            start_date=date.fromisoformat(data["start_date"]),
            pos_url=data.get("pos_url"),
            world=data.get("world", "diverse"),  # state files written before worlds had shapes
            history_days=int(data.get("history_days", 30)),
        )

    def differences(self, other: SimulatorConfig) -> list[str]:
        """Human-readable `field: this vs other` lines, with passwords in URLs masked."""
        out = []
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if mine != theirs:
                if f.name == "pos_url":
                    mine, theirs = mask_password(mine), mask_password(theirs)
                out.append(f"{f.name}: {mine!r} vs {theirs!r}")
        return out


def mask_password(url: str | None) -> str | None:
    """A database URL safe to show in a message."""
    if url is None:
        return None
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as the scheme only
        return url.split(":", 1)[0] + ":…"
