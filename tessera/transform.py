"""The unify step: build the dbt project (staging, identity resolution, golden customer marts).

`tessera transform`, the demo and the tests call `run_transform`; Airflow runs the same project
node by node through Cosmos (`dags/tessera_transform.py`), which renders the DAG from the dbt
manifest that `parse_project` writes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tessera.home import PROJECT_ROOT, TesseraHome

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
#: Where Cosmos reads the manifest at DAG-parse time (`TESSERA_DBT_MANIFEST` overrides it).
MANIFEST_PATH = Path(os.environ.get("TESSERA_DBT_MANIFEST") or DBT_PROJECT_DIR / "target" / "manifest.json")


def manifest_is_current(manifest: Path = MANIFEST_PATH) -> bool:
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    sources = [
        p for d in ("models", "macros", "seeds", "tests") for p in (DBT_PROJECT_DIR / d).rglob("*") if p.is_file()
    ]
    sources.append(DBT_PROJECT_DIR / "dbt_project.yml")
    return all(p.stat().st_mtime <= built for p in sources)


def parse_project(home: TesseraHome, force: bool = False) -> Path:
    """Write the dbt manifest that the transform DAG renders from (skipped when it is current)."""
    if force or not manifest_is_current():
        from tessera.dbt_runner import run_dbt

        run_dbt(["parse", "--target-path", str(MANIFEST_PATH.parent)], home)
    return MANIFEST_PATH


def target_type(target: str) -> str:
    """The adapter type (`duckdb`, `postgres`) of a target in `dbt_project/profiles.yml`."""
    import yaml

    outputs = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())["tessera"]["outputs"]
    if target not in outputs:
        raise ValueError(f"unknown dbt target {target!r}; dbt_project/profiles.yml defines {', '.join(outputs)}")
    return outputs[target]["type"]


def run_transform(home: TesseraHome, *, full_refresh: bool = False, target: str = "duckdb", select: str | None = None):
    """`dbt build` of the whole project (or a selection) into this home's warehouse.

    On a PostgreSQL target the lake is loaded into the database first (`tessera/warehouse_load.py`),
    since PostgreSQL cannot read the Parquet files the sources point at on DuckDB."""
    from tessera.dbt_runner import run_dbt

    if target_type(target) == "postgres":
        from tessera.warehouse_load import load_lake

        load_lake(home)
    args = ["build"]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    return run_dbt(args, home, target=target)
