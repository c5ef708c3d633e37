"""A build that needs more memory than DuckDB may use spills to disk instead of failing: the warehouse profile
(dbt_project/profiles.yml) runs models over its memory limit side by side, in one dbt invocation."""

from __future__ import annotations

import pytest
from dbt.cli.main import dbtRunner

from tessera.resources import dbt_project_dir

pytestmark = pytest.mark.integration

#: A grouping whose hash table is far bigger than the limit below, so DuckDB must write it out.
LARGE_AGGREGATE = "select count(*) as groups from (select i, count(*) from range(4000000) as t(i) group by i)"
#: Run two at a time, as a build runs its nodes: a node starts while another one's data is on disk.
SPILLING_MODELS = ("spill_a", "spill_b", "spill_c", "spill_d")


def test_models_over_the_memory_limit_spill_side_by_side(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: spilling\nversion: '1.0'\nconfig-version: 2\nprofile: tessera\n"
        "models:\n  spilling:\n    +materialized: table\n"
    )
    for name in SPILLING_MODELS:
        (project / "models" / f"{name}.sql").write_text(LARGE_AGGREGATE)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TESSERA_HOME", str(home))
    monkeypatch.setenv("TESSERA_DUCKDB_MEMORY_LIMIT", "64MB")

    result = dbtRunner().invoke(
        ["run", "--project-dir", str(project), "--profiles-dir", str(dbt_project_dir()), "--threads", "2"]
    )

    assert result.success, result.exception or [str(r.message) for r in result.result.results]
    assert [str(r.status) for r in result.result.results] == ["success"] * len(SPILLING_MODELS)
