"""The installed product, shared by the deployment tests: one wheel and one virtualenv per test session,
also when pytest-xdist spreads the tests over workers (the first worker builds, the others wait and reuse)."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from tests.deploy.installed import Installed, build_wheel, export_constraints, install

# The deployment tests' shared checks live in a module of their own: pytest explains their failed asserts too.
pytest.register_assert_rewrite("tests.deploy.airflow_cluster")


@pytest.fixture(scope="session")
def installed(tmp_path_factory, worker_id) -> Installed:
    """The wheel built as `make wheel` builds it, installed with the lock's pins in a virtualenv outside the repo."""
    if worker_id == "master":  # no xdist: this session's own temporary folder
        return _build(tmp_path_factory.mktemp("deployed"))
    shared = tmp_path_factory.getbasetemp().parent  # the xdist session's folder, common to its workers
    with open(shared / "deployed.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        root = shared / "deployed"
        if (root / "venv" / ".tessera-installed").exists():
            (wheel,) = (root / "dist").glob("tessera-*.whl")
            return Installed(venv=root / "venv", wheel=wheel, constraints=root / "constraints.txt")
        return _build(root)


def _build(root: Path) -> Installed:
    root.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(root / "dist", scratch_home=root / "build-home")
    installed = install(wheel, export_constraints(root / "constraints.txt"), root / "venv")
    (installed.venv / ".tessera-installed").touch()
    return installed
