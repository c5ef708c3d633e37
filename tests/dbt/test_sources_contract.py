"""The dbt sources describe the lake exactly as the registry's landing contracts define it."""

from __future__ import annotations

import pyarrow as pa
import pytest
import yaml

from connectors.registry import registry
from tessera.resources import dbt_project_dir

pytestmark = pytest.mark.unit

SQL_TYPES = {
    pa.string(): "varchar",
    pa.bool_(): "boolean",
    pa.int64(): "bigint",
    pa.timestamp("us", tz="UTC"): "timestamp with time zone",
    pa.decimal128(18, 2): "decimal(18,2)",
}


def declared_sources() -> dict[str, dict]:
    sources = {}
    for path in sorted((dbt_project_dir() / "models" / "staging").glob("*/_*__sources.yml")):
        for source in yaml.safe_load(path.read_text())["sources"]:
            sources[source["name"]] = source
    return sources


def test_every_landed_stream_is_a_source_and_nothing_else():
    declared = {f"{name}.{t['name']}" for name, s in declared_sources().items() for t in s["tables"]}
    assert declared == {c.name for c in registry().streams}


@pytest.mark.parametrize("contract", registry().streams, ids=lambda c: c.name)
def test_source_columns_types_and_pii_flags_match_the_arrow_schema(contract):
    table = next(t for t in declared_sources()[contract.source]["tables"] if t["name"] == contract.stream)
    assert [(c["name"], c["data_type"]) for c in table["columns"]] == [
        *((f.name, SQL_TYPES[f.type]) for f in contract.schema),
        ("_visible_at", "timestamp with time zone"),  # added by the lake's source views, not stored
    ]
    pii = {c["name"] for c in table["columns"] if c.get("config", {}).get("meta", {}).get("pii")}
    assert pii == {c.name for c in contract.all_columns if c.pii}


@pytest.mark.parametrize("source", registry().sources.values(), ids=lambda s: s.name)
def test_sources_are_the_lake_views_of_visible_batches_with_freshness(source):
    """No `external_location`: on DuckDB each source is the view `create_lake_source_views()` makes over the
    stream's visible batches, so a held or unpublished batch is never read."""
    config = declared_sources()[source.name]["config"]
    assert "meta" not in config or "external_location" not in config["meta"]
    assert config["loaded_at_field"] == "_extracted_at"
    assert config["freshness"] == {"warn_after": {"count": source.freshness.count, "period": source.freshness.period}}
