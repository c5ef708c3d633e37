"""docs/landing-contract.md and connectors/contract.py describe the same contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.contract import CONTRACTS, QUARANTINE_SCHEMA

pytestmark = pytest.mark.unit

DOC = (Path(__file__).resolve().parents[2] / "docs" / "landing-contract.md").read_text()
TYPES = {
    "string": "string",
    "bool": "boolean",
    "int64": "int64",
    "timestamp[us, tz=UTC]": "timestamp (UTC, µs)",
    "decimal128(18, 2)": "decimal(18,2)",
}


def _section_rows(title: str) -> list[tuple[str, str, str]]:
    section = DOC.split(title, 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `(\w+)` \| ([^|]+?) \| ([^|]*?) \|", section, flags=re.M)


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_doc_lists_each_stream_column_with_type_and_requiredness(name):
    contract = CONTRACTS[name]
    documented = _section_rows(f"### `{name}`")
    expected = [(f.name, TYPES[str(f.type)], "" if f.nullable else "yes") for f in contract.business_fields]
    assert documented == expected


def test_doc_lists_the_quarantine_columns():
    documented = [name for name, _, _ in _section_rows("## Quarantine")]
    assert documented == QUARANTINE_SCHEMA.names
