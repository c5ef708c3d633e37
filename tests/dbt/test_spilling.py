"""A build that needs more memory than DuckDB may use spills to disk beside the warehouse instead of failing."""

from __future__ import annotations

import pytest

from tessera.dbt_runner import run_dbt
from tessera.home import TesseraHome

pytestmark = pytest.mark.integration

#: A grouping whose hash table is far bigger than the limit below, so DuckDB must write it out.
LARGE_AGGREGATE = "select count(*) as groups from (select i, count(*) from range(4000000) as t(i) group by i)"


def test_a_query_over_the_memory_limit_spills_to_the_temp_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_DUCKDB_MEMORY_LIMIT", "64MB")
    home = TesseraHome(tmp_path / "home")
    home.root.mkdir(parents=True)
    result = run_dbt(["show", "--inline", LARGE_AGGREGATE], home)
    assert result.result.results[0].agate_table.rows[0][0] == 4_000_000
