"""`tessera explain` shows the records, the identifiers that joined them and what was kept out."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from tessera.cli import app
from tessera.explain import explain_customer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_explain_a_customer_merged_from_several_sources(unified, monkeypatch):
    with duckdb.connect(str(unified.warehouse), read_only=True) as con:
        customer_id, record_count = con.execute(
            "select customer_id, record_count from marts.golden_customers "
            "where sources like '%crm%' and sources like '%email%' order by record_count desc limit 1"
        ).fetchone()
    explanation = explain_customer(unified, customer_id)
    assert len(explanation.records) == record_count
    assert explanation.identifiers, "a merged customer is joined by at least one shared identifier"
    assert all("***@" in value for kind, value, _ in explanation.identifiers if kind == "email")
    assert {row[0] for row in explanation.lineage} >= {"email"}

    monkeypatch.setenv("TESSERA_HOME", str(unified.root))
    result = CliRunner().invoke(app, ["explain", customer_id])
    assert result.exit_code == 0, result.output
    assert "Identifiers that joined them" in result.output and customer_id in result.output


def test_explain_shows_what_merge_protection_kept_out(unified):
    with duckdb.connect(str(unified.warehouse), read_only=True) as con:
        customer_id = con.execute(
            """select c.customer_id from intermediate.int_identity_decisions d
               join intermediate.int_customer_records c using (record_key) limit 1"""
        ).fetchone()[0]
    explanation = explain_customer(unified, customer_id)
    assert explanation.kept_out
    assert all(reason for *_, reason in explanation.kept_out)


def test_explain_an_unknown_customer_is_a_clear_error(unified, monkeypatch):
    monkeypatch.setenv("TESSERA_HOME", str(unified.root))
    result = CliRunner().invoke(app, ["explain", "cus_nope"])
    assert result.exit_code == 1 and "no customer 'cus_nope'" in result.output
