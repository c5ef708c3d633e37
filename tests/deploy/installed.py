"""Build the product wheel the way `make wheel` does and install it, with the lock's pins, into a fresh
virtualenv outside the repository: what a worker machine gets, and nothing from the dev environment.

The install carries the `celery` extra (Airflow's CeleryExecutor with a Redis broker) and the `spark` extra
(dbt-spark and PySpark), as a machine of the Celery deployment that builds on Spark installs them; the same
virtualenv serves the LocalExecutor deployment, which builds on DuckDB and ignores both."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEV_BIN = Path(sys.executable).parent
#: The extras of the wheel that the deployment tests install, and whose pins the constraints carry.
EXTRAS = ("celery", "spark")


@dataclass(frozen=True)
class Installed:
    """A virtualenv holding the installed wheel, and the files that went into it."""

    venv: Path
    wheel: Path
    constraints: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def site_packages(self) -> Path:
        (folder,) = (self.venv / "lib").glob("python3.*/site-packages")
        return folder

    def environment(self, **values: str) -> dict[str, str]:
        """A clean environment for a process of this installation: no variable of the test process
        (its AIRFLOW_*, its virtualenv) leaks in; only what is given, with the venv first on PATH."""
        keep = {k: os.environ[k] for k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "UV_CACHE_DIR") if k in os.environ}
        return {**keep, "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin", **values}

    def run(self, *args: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a command of this installation (`tessera …`, `airflow …`); never raises on a non-zero exit."""
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )


def uv() -> list[str]:
    """The uv the Makefile would use: on PATH, else the module in this interpreter."""
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def _checked(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def build_wheel(out_dir: Path, scratch_home: Path) -> Path:
    """`make wheel`: a current dbt manifest (`tessera dbt-parse`), then `uv build --wheel`."""
    env = {**os.environ, "TESSERA_HOME": str(scratch_home)}
    _checked([str(DEV_BIN / "tessera"), "dbt-parse"], cwd=REPO, env=env)
    _checked([*uv(), "build", "--wheel", "--out-dir", str(out_dir)], cwd=REPO)
    (wheel,) = out_dir.glob("tessera-*.whl")
    return wheel


def export_constraints(path: Path, extras: tuple[str, ...] = EXTRAS) -> Path:
    """The lock's pins for the runtime dependencies and the given extras (no dev extra, no workspace packages)."""
    chosen = [arg for extra in extras for arg in ("--extra", extra)]
    _checked(
        [*uv(), "export", "--frozen", "--no-dev", "--no-emit-workspace", "--no-hashes", *chosen,
         "--output-file", str(path)],
        cwd=REPO,
    )  # fmt: skip
    return path


def install(wheel: Path, constraints: Path, venv: Path, extras: tuple[str, ...] = EXTRAS) -> Installed:
    """A new virtualenv with the wheel and its `extras` installed under the lock's pins
    (`uv pip install 'tessera[celery,spark] @ file://…whl' -c constraints.txt`)."""
    outside = venv.parent  # not the repository: no project settings of ours may shape the install
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    _checked([*uv(), "venv", "--quiet", "--python", python, str(venv)], cwd=outside)
    python_of_venv = str(venv / "bin" / "python")
    requirement = f"tessera[{','.join(extras)}] @ {wheel.resolve().as_uri()}" if extras else str(wheel)
    _checked(
        [*uv(), "pip", "install", "--quiet", "--python", python_of_venv, requirement, "-c", str(constraints)],
        cwd=outside,
    )
    return Installed(venv=venv, wheel=wheel, constraints=constraints)
