"""The dbt sources describe the lake exactly as the landing contract (connectors/contract.py) defines it."""

from __future__ import annotations

import pyarrow as pa
import pytest
import yaml

from connectors.contract import CONTRACTS
from tessera.dbt_runner import DBT_PROJECT_DIR

pytestmark = pytest.mark.unit

STAGING = DBT_PROJECT_DIR / "models" / "staging"
PII = {"email", "phone", "first_name", "last_name", "birth_date", "street", "city", "postcode", "receipt_email", "ip"}


def sql_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_string(arrow_type):
        return "varchar"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp with time zone"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_int64(arrow_type):
        return "bigint"
    raise AssertionError(f"no SQL type for {arrow_type}")


def declared_sources() -> dict[str, dict]:
    sources = {}
    for path in sorted(STAGING.glob("*/_*__sources.yml")):
        for source in yaml.safe_load(path.read_text())["sources"]:
            sources[source["name"]] = source
    return sources


def test_every_landed_stream_is_a_source_and_nothing_else():
    declared = {f"{name}/{t['name']}" for name, s in declared_sources().items() for t in s["tables"]}
    assert declared == set(CONTRACTS)


@pytest.mark.parametrize("stream", sorted(CONTRACTS))
def test_source_columns_and_types_match_the_contract(stream):
    contract = CONTRACTS[stream]
    table = next(t for t in declared_sources()[contract.source]["tables"] if t["name"] == contract.stream)
    declared = [(c["name"], c["data_type"]) for c in table["columns"]]
    assert declared == [(f.name, sql_type(f.type)) for f in contract.schema]
    assert all(c.get("description") for c in table["columns"])
    pii = {c["name"] for c in table["columns"] if c.get("config", {}).get("meta", {}).get("pii")}
    assert pii == {f.name for f in contract.schema if f.name in PII or f.name == "_record"}


@pytest.mark.parametrize("source", ["crm", "email", "pos", "web"])
def test_sources_read_committed_batches_of_the_lake_with_freshness(source):
    config = declared_sources()[source]["config"]
    location = config["meta"]["external_location"]
    assert f"/lake/raw/{source}/{{name}}/batch_id=*/*.parquet" in location
    assert "union_by_name = true" in location and "hive_partitioning = false" in location
    assert config["loaded_at_field"] == "_extracted_at"
    assert set(config["freshness"]) == {"warn_after"}
