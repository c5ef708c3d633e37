"""The registry's contracts are well-formed, and the files generated from them are current."""

from __future__ import annotations

import pytest

from connectors.contract import QUARANTINE_COLUMNS, quarantine_schema
from connectors.registry import registry
from tessera.generated_files import landing_contract_regions, stale_files
from tessera.resources import dbt_project_dir

pytestmark = pytest.mark.unit

#: Column names that identify a person wherever they appear: every stream must flag them as PII.
IDENTIFYING = {
    "email",
    "phone",
    "first_name",
    "last_name",
    "birth_date",
    "street",
    "city",
    "postcode",
    "receipt_email",
    "ip",
}


def test_generated_files_are_current():
    stale = stale_files(registry(), dbt_project_dir().parent)
    assert stale == [], "run `tessera generate`: " + ", ".join(str(f.path) for f in stale)


@pytest.mark.parametrize("contract", registry().streams, ids=lambda c: c.name)
def test_schema_puts_business_columns_first_then_metadata(contract):
    names = contract.schema.names
    assert names[: len(contract.columns)] == [c.name for c in contract.columns]
    assert names[len(contract.columns) :] == [
        "_batch_id",
        "_extracted_at",
        *(["_record"] if contract.keeps_record else []),
    ]
    assert contract.key in contract.required
    assert not contract.schema.field(contract.key).nullable


@pytest.mark.parametrize("contract", registry().streams, ids=lambda c: c.name)
def test_identifying_columns_are_flagged_pii_and_described(contract):
    flagged = {c.name for c in contract.all_columns if c.pii}
    assert IDENTIFYING & {c.name for c in contract.columns} <= flagged
    assert ("_record" in flagged) == contract.keeps_record
    assert all(c.description for c in contract.all_columns)


@pytest.mark.parametrize("contract", registry().streams, ids=lambda c: c.name)
def test_the_doc_lists_each_stream_with_its_lake_folder_and_columns(contract):
    section = landing_contract_regions(registry())["streams"].split(f"### `{contract.name}`", 1)[1].split("\n### ")[0]
    assert f"`raw/{contract.source}/{contract.stream}/`" in section
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows == [f"| `{c.name}` | {c.column_type.doc} | {'yes' if c.required else ''} |" for c in contract.columns]


def test_quarantine_schema_keeps_the_payload_and_the_reason():
    schema = quarantine_schema()
    assert schema.names == [c.name for c in QUARANTINE_COLUMNS]
    assert not schema.field("_reason").nullable and not schema.field("_record").nullable
