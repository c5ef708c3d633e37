"""Where the product's own files are: the dbt project, the DAGs folder, the dbt manifest and the check suites.

An installed wheel carries them inside the package (`tessera/bundled/`, written by `hatch_build.py`),
so an Airflow worker needs no checkout. A source checkout (an editable install, `make install`) uses
its top-level `dbt_project/` and `dags/`. `TESSERA_DBT_PROJECT_DIR`, `TESSERA_DAGS_FOLDER` and
`TESSERA_DBT_MANIFEST` point elsewhere, for a deployment that keeps its own copy.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
BUNDLED = _PACKAGE / "bundled"


def _located(env: str, folder: str) -> Path:
    configured = os.environ.get(env)
    if configured:
        return Path(configured).resolve()
    bundled = BUNDLED / folder
    if bundled.is_dir():
        return bundled
    checkout = _PACKAGE.parent / folder
    if (_PACKAGE.parent / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"cannot find Tessera's {folder}/: this installation has neither {bundled} nor a source checkout; "
        f"set {env} to its location"
    )


def dbt_project_dir() -> Path:
    return _located("TESSERA_DBT_PROJECT_DIR", "dbt_project")


def dags_folder() -> Path:
    return _located("TESSERA_DAGS_FOLDER", "dags")


def expectations_dir() -> Path:
    """The Great Expectations project holding the check suites (`TESSERA_EXPECTATIONS_DIR` overrides it)."""
    return _located("TESSERA_EXPECTATIONS_DIR", "expectations")


def manifest_path() -> Path:
    """The dbt manifest the transform DAG renders from: shipped in the wheel, `tessera dbt-parse` in a checkout."""
    configured = os.environ.get("TESSERA_DBT_MANIFEST")
    return Path(configured).resolve() if configured else dbt_project_dir() / "target" / "manifest.json"


def matcher_model_path() -> Path:
    """The saved person-matcher model that the dbt project scores with (`tessera train-matcher` writes it)."""
    return dbt_project_dir() / "matcher" / "person_model.json"


def nicknames_path() -> Path:
    return dbt_project_dir() / "seeds" / "identity" / "nicknames.csv"
