"""The folder the prediction models are kept in, one version per training run, the way the matcher's fits are.

Layout (`$TESSERA_HOME/predictions/` by convention):

- `versions/v0001/`: `purchases.json` and `spend.json` (parameters, training window, library versions) and
  `backtest.json` (the run's backtests), written before the version is made current;
- `current.json`: which version scoring uses, replaced atomically, so a reader sees the old or the new
  version, never half of one;
- `history.jsonl`: one line per training run (version, as-of date, model kinds, backtest headline).
"""

from __future__ import annotations

import json
from pathlib import Path

from connectors.durable import write_atomically
from transforms.model_versions import ModelVersions
from transforms.predict.btyd import FittedModel, PurchaseModel, SpendModel
from transforms.predict.training import TrainingRun


class ModelStore(ModelVersions):
    """The prediction models' versions: `current.json` names the version scoring uses."""

    def save(self, run: TrainingRun) -> Path:
        """Keep a training run as the next version and make it current; its folder."""
        existing = sorted(p.name for p in (self.folder / "versions").glob("v*") if p.is_dir())
        version = int(existing[-1][1:]) + 1 if existing else 1
        folder = self.folder / "versions" / f"v{version:04d}"
        folder.mkdir(parents=True)
        run.purchases.save(folder / "purchases.json")
        run.spend.save(folder / "spend.json")
        write_atomically(folder / "backtest.json", json.dumps(run.metrics(), indent=2) + "\n")
        headline = run.backtests[run.purchases.kind]
        entry = {
            "version": version,
            "folder": str(folder.relative_to(self.folder)),
            "as_of": run.as_of,
            "unit": run.unit,
            "purchase_model": run.purchases.kind,
            "backtest_relative_error": headline.relative_error,
            "backtest_mae": headline.mae,
        }
        write_atomically(self.current_path, json.dumps(entry, indent=2) + "\n")
        self.append_history(entry)
        return folder

    def load_current(self) -> tuple[PurchaseModel, SpendModel]:
        """The current version's purchase and spend models."""
        if not self.current_path.exists():
            raise FileNotFoundError(f"{self.current_path}: no prediction model trained yet; train one first")
        folder = self.folder / json.loads(self.current_path.read_text(encoding="utf-8"))["folder"]
        purchases, spend = FittedModel.load(folder / "purchases.json"), FittedModel.load(folder / "spend.json")
        if not isinstance(purchases, PurchaseModel) or not isinstance(spend, SpendModel):
            raise ValueError(f"{folder}: purchases.json or spend.json holds the wrong kind of model")
        return purchases, spend
