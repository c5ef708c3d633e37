"""Shared fixtures. Airflow reads its settings at import, so its environment is set here first."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tessera.resources import dags_folder  # light: imports no Airflow

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="tessera-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder())
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"

from tessera.home import TesseraHome  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch) -> TesseraHome:
    """An isolated $TESSERA_HOME for one test."""
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))
    return TesseraHome(tmp_path / "home")


@pytest.fixture(scope="session")
def dbt_manifest(tmp_path_factory) -> Path:
    """The dbt manifest the transform DAG renders from (written when missing or stale)."""
    from tessera.dbt_runner import parse_project

    return parse_project(TesseraHome(tmp_path_factory.mktemp("parse")))


@pytest.fixture(scope="session")
def airflow_db(dbt_manifest) -> Path:
    """A migrated Airflow metadata DB (SQLite) for DAG runs in this session."""
    from tessera.airflow_local import migrate_metadata_db

    migrate_metadata_db()
    return _AIRFLOW_HOME


@pytest.fixture(autouse=True)
def _drop_log_handlers_of_closed_streams():
    """A command run through a test runner may configure logging (Airflow does, on import) with the runner's
    captured stderr, which closes when the command returns. Left in place, such a handler prints "Logging
    error" tracebacks into the next command's output; a real terminal's stderr never closes."""
    import logging

    yield
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in list(getattr(logger, "handlers", [])):
            if getattr(getattr(handler, "stream", None), "closed", False):
                logger.removeHandler(handler)


@pytest.fixture(scope="session")
def object_store(tmp_path_factory):
    """A SeaweedFS S3 server on loopback, one per test process (tests/object_store.py)."""
    from tests.object_store import seaweedfs

    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


@pytest.fixture
def s3_lake(object_store, monkeypatch):
    """A lake of its own on the test object store, reached through the standard AWS variables."""
    from upath import UPath

    for name, value in object_store.environment.items():
        monkeypatch.setenv(name, value)
    return UPath(object_store.new_lake())
