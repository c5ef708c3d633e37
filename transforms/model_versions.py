"""A folder of model versions, kept the same way for every fitted model (the matcher's fits, the prediction
models): the versions themselves, the current one that scoring reads, and `history.jsonl`, one line per
version written, which says when, how and why it was made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class ModelVersions:
    """`folder`: `versions/`, the current model file (`CURRENT`, named by each kind of model) and `history.jsonl`."""

    CURRENT = "current.json"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @property
    def current_path(self) -> Path:
        return self.folder / self.CURRENT

    @property
    def history_path(self) -> Path:
        return self.folder / "history.jsonl"

    def history(self) -> list[dict[str, Any]]:
        """Every version's entry, oldest first."""
        if not self.history_path.exists():
            return []
        return [json.loads(line) for line in self.history_path.read_text(encoding="utf-8").splitlines() if line]

    def append_history(self, entry: dict[str, Any]) -> None:
        """One line per version, appended once the version is current."""
        self.history_path.parent.mkdir(parents=True, exist_ok=True)
        with self.history_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
