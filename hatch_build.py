"""Wheel build hook: bundle the dbt project, the DAGs, the expectation suites and the dbt manifest into
`tessera/bundled/`.

An Airflow worker installs the wheel and nothing else, so the files the DAGs read at parse and run time
travel inside the package (`tessera/resources.py` finds them there). Run output (`target/` except the
manifest, `logs/`, `dbt_packages/`) stays out. The manifest must be current (`tessera dbt-parse`, which
`make wheel` runs first): a wheel whose DAG would render a different project than it runs is refused.
"""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LEFT_OUT = {"target", "logs", "dbt_packages", "__pycache__", ".user.yml"}


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        root = Path(self.root)
        project, dags = root / "dbt_project", root / "dags"
        manifest = project / "target" / "manifest.json"
        sources = [p for p in project.rglob("*") if p.is_file() and not LEFT_OUT & set(p.relative_to(project).parts)]
        if not manifest.exists() or manifest.stat().st_mtime < max(p.stat().st_mtime for p in sources):
            raise RuntimeError(f"{manifest} is missing or older than the dbt project: run `tessera dbt-parse` first")
        include = build_data["force_include"]
        for path in [*sources, manifest]:
            include[str(path)] = f"tessera/bundled/dbt_project/{path.relative_to(project).as_posix()}"
        for path in sorted(dags.glob("*.py")):
            include[str(path)] = f"tessera/bundled/dags/{path.name}"
        expectations = root / "expectations"
        for path in sorted(p for p in expectations.rglob("*") if p.is_file() and "uncommitted" not in p.parts):
            include[str(path)] = f"tessera/bundled/expectations/{path.relative_to(expectations).as_posix()}"
