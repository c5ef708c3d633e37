"""The trained person matcher as a file: Splink's settings with estimated m and u values, under a header
that says which version it is and what it was trained on.

Daily runs load it and score; only `tessera train-matcher` writes it (the next version each time).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_FORMAT = "tessera-person-matcher"


@dataclass(frozen=True)
class MatcherModel:
    """A trained person matcher: Splink's settings with estimated m and u values, and their provenance."""

    splink_settings: dict[str, Any]
    version: int
    trained_at: str
    training_data: str
    training_records: int
    seed: int
    splink_version: str

    def to_json(self) -> str:
        header = {
            "format": MODEL_FORMAT,
            "version": self.version,
            "trained_at": self.trained_at,
            "training_data": self.training_data,
            "training_records": self.training_records,
            "seed": self.seed,
            "splink_version": self.splink_version,
        }
        return json.dumps({**header, "splink_settings": self.splink_settings}, indent=2) + "\n"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str = "model") -> MatcherModel:
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"{where}: not a person matcher model (format {doc.get('format')!r})")
        try:
            return cls(
                splink_settings=dict(doc["splink_settings"]),
                version=int(doc["version"]),
                trained_at=str(doc["trained_at"]),
                training_data=str(doc["training_data"]),
                training_records=int(doc["training_records"]),
                seed=int(doc["seed"]),
                splink_version=str(doc["splink_version"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad or missing header field: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> MatcherModel:
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"no matcher model at {path}; train one with `tessera train-matcher`") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(doc, where=str(path))
