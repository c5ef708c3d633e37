"""The project's dbt unit tests, all of them, on an empty warehouse: they test the models' logic on their
own fixtures, so they run here and in an analyst's `dbt build`, and production builds leave them out."""

from __future__ import annotations

import json

import pytest

from tessera.dbt_runner import dbt_artifacts_dir, run_dbt
from tessera.home import TesseraHome

pytestmark = pytest.mark.integration


def test_every_unit_test_passes(tmp_path):
    home = TesseraHome(tmp_path)
    # Unit tests read the column types of the relations they stand in for, so those must exist: empty ones do.
    run_dbt(["build", "--empty", "--exclude-resource-type", "unit_test", "--exclude-resource-type", "test"], home)
    result = run_dbt(["test", "--select", "test_type:unit"], home)

    manifest = json.loads((dbt_artifacts_dir(home) / "target" / "manifest.json").read_text())
    ran = {r.node.unique_id: str(r.status) for r in result.result.results if r.node.resource_type == "unit_test"}
    assert set(ran) == set(manifest["unit_tests"]) and len(ran) >= 20
    assert set(ran.values()) == {"pass"}
