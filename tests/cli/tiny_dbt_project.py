"""A dbt project of three nodes, for tests of how the CLI shows a dbt build (progress, summary, failures)
in seconds rather than the minutes the real project takes. Its profile is the real one's shape: profile
`tessera`, target `duckdb`, the warehouse under `$TESSERA_HOME`, models in schema `marts`."""

from __future__ import annotations

from pathlib import Path

PROFILES = """
tessera:
  target: duckdb
  outputs:
    duckdb:
      type: duckdb
      path: "{{ env_var('TESSERA_HOME') }}/warehouse.duckdb"
      schema: marts
      threads: 1
"""

PROJECT = """
name: tiny
version: "1.0"
profile: tessera
model-paths: ["models"]
models:
  tiny:
    +materialized: table
"""

SCHEMA = """
version: 2
models:
  - name: people
    columns:
      - name: person_id
        data_tests: [not_null]
"""


def write_tiny_project(folder: Path, *, failing_sql: str | None = None) -> Path:
    """Two models and a test; `failing_sql` adds a third model whose SQL fails (with the message it causes)."""
    (folder / "models").mkdir(parents=True)
    (folder / "profiles.yml").write_text(PROFILES)
    (folder / "dbt_project.yml").write_text(PROJECT)
    (folder / "models" / "_models.yml").write_text(SCHEMA)
    (folder / "models" / "people.sql").write_text("select 1 as person_id union all select 2")
    (folder / "models" / "people_count.sql").write_text("select count(*) as n from {{ ref('people') }}")
    if failing_sql is not None:
        (folder / "models" / "broken.sql").write_text(failing_sql)
    return folder
