"""The suites in `expectations/`: one per landed stream and per golden mart, in step with the landing contract,
read from wherever the installation keeps them, and never written to."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connectors.registry import registry
from tessera.activation.activations import segment_models
from tessera.checks import SuiteError, check_batch, expectations_dir
from tessera.checks.context import open_context
from tessera.checks.suites import MART_SUITES, load_suite, suite_file
from tessera.home import TesseraHome
from tests.checks.conftest import NOW, batch_id, contacts, land_pending

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def expectations(name: str) -> list[dict]:
    return json.loads(suite_file(name).read_text())["expectations"]


def of_type(name: str, kind: str) -> list[dict]:
    return [e["kwargs"] for e in expectations(name) if e["type"] == kind]


def test_the_checkout_keeps_the_suites_in_expectations(dbt_manifest):
    assert expectations_dir() == REPO / "expectations"
    names = sorted(
        str(p.relative_to(expectations_dir() / "gx" / "expectations"))
        for p in REPO.glob("expectations/gx/expectations/**/*.json")
    )
    segments = [f"segments.{name}" for name in segment_models(dbt_manifest)] + ["segments.default"]
    assert names == sorted(
        f"{name.replace('.', '/')}.json" for name in [*(c.name for c in registry().streams), *MART_SUITES, *segments]
    )


def test_an_installation_can_point_elsewhere(monkeypatch, tmp_path):
    monkeypatch.setenv("TESSERA_EXPECTATIONS_DIR", str(tmp_path))
    assert expectations_dir() == tmp_path.resolve()


@pytest.mark.parametrize("contract", registry().streams, ids=lambda c: c.name)
def test_each_stream_suite_declares_the_contract_columns_and_types(contract):
    """The contract is the one place column names and types are decided: a suite that disagrees is stale."""
    declared = [(c.name, str(c.column_type.to_arrow())) for c in contract.all_columns]
    assert [
        (k["column"], k["arrow_type"]) for k in of_type(contract.name, "expect_column_to_have_arrow_type")
    ] == declared
    (columns,) = of_type(contract.name, "expect_table_columns_to_match_set")
    assert columns["column_set"] == [name for name, _ in declared] and columns.get("exact_match", True)  # GX's default
    not_null = [k["column"] for k in of_type(contract.name, "expect_column_values_to_not_be_null")]
    assert not_null == [c.name for c in contract.all_columns if c.required]
    assert [k["column"] for k in of_type(contract.name, "expect_column_values_to_be_unique")] == [contract.key]


def test_every_suite_says_how_much_each_failure_matters(tmp_path, dbt_manifest):
    context = open_context(TesseraHome(tmp_path))
    segments = [f"segments.{name}" for name in segment_models(dbt_manifest)] + ["segments.default"]
    for name in [*(c.name for c in registry().streams), *MART_SUITES, *segments]:
        suite = load_suite(context, name)  # raises SuiteError on a bad severity
        assert {e.meta["severity"] for e in suite.expectations} <= {"critical", "warning"}
        assert any(e.meta["severity"] == "critical" for e in suite.expectations), name


def test_a_suite_with_an_unknown_severity_is_refused_naming_the_file(monkeypatch, tmp_path):
    copy = shutil.copytree(expectations_dir(), tmp_path / "expectations")
    monkeypatch.setenv("TESSERA_EXPECTATIONS_DIR", str(copy))
    path = copy / "gx" / "expectations" / "crm" / "contacts.json"
    suite = json.loads(path.read_text())
    unique = next(e for e in suite["expectations"] if e["type"] == "expect_column_values_to_be_unique")
    unique["meta"]["severity"] = "fatal"
    path.write_text(json.dumps(suite))

    with pytest.raises(SuiteError) as refused:
        load_suite(open_context(TesseraHome(tmp_path / "home")), "crm.contacts")

    assert str(refused.value) == (
        f"{path}: expect_column_values_to_be_unique on contact_id: "
        "meta.severity must be one of critical, warning, not 'fatal'"
    )


def test_checks_write_nothing_into_the_suites_folder_and_everything_under_the_home(monkeypatch, tmp_path, home):
    copy = shutil.copytree(expectations_dir(), tmp_path / "expectations")
    monkeypatch.setenv("TESSERA_EXPECTATIONS_DIR", str(copy))
    before = snapshot(copy)
    land_pending(home.lake, "crm", "contacts", 0, contacts(3))

    result = check_batch(home, registry().contract("crm", "contacts"), batch_id(0), now=NOW)

    assert snapshot(copy) == before
    assert list((home.root / "checks" / "validations" / "crm" / "contacts").glob(f"batch_id={batch_id(0)}/*/*.json"))
    assert result.docs_page.is_relative_to(home.root / "checks" / "data_docs")
    assert (home.root / "checks" / "data_docs" / "index.html").is_file()


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")}
