"""The one data folder, `$TESSERA_HOME` (default `./data`), and where everything lives inside it.

Every component takes its paths from here, so tests and users can run isolated copies side
by side just by pointing `TESSERA_HOME` elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from connectors.lake_storage import LAKE_VARIABLE, LakePath, lake_path


@dataclass(frozen=True)
class TesseraHome:
    root: Path
    #: Where the lake is when not in the home: a folder or an object-store URL such as `s3://bucket/lake`
    #: (`TESSERA_LAKE`; connectors/lake_storage.py).
    lake_location: str | None = field(default_factory=lambda: os.environ.get(LAKE_VARIABLE) or None)

    @property
    def lake(self) -> LakePath:
        return lake_path(self.lake_location) if self.lake_location else self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def state(self) -> Path:
        """Connector cursors and file manifests."""
        return self.root / "state"

    @property
    def airflow(self) -> Path:
        """The local Airflow home (SQLite metadata DB, logs) of the embedded default."""
        return self.root / "airflow"

    @property
    def predictions(self) -> Path:
        """The predictors' versions (transforms/predict/predictors.py::PredictorStore); the build scores with the current one."""
        return self.root / "predictions"

    @property
    def simulator(self) -> Path:
        """The demo source systems' own stores; the pipeline reads them only through their interfaces."""
        return self.root / "simulator"


def tessera_home(root: str | os.PathLike | None = None) -> TesseraHome:
    return TesseraHome(Path(root or os.environ.get("TESSERA_HOME") or "data").resolve())
