"""`tessera explain` shows the records, the identifiers that joined them and what was kept out, exactly as
the identity tables decided them."""

from __future__ import annotations

import csv
import re

import duckdb
import pytest
from typer.testing import CliRunner

from connectors.masking import mask_identifier
from tessera.cli import app
from tessera.explain import explain_customer
from tessera.resources import dbt_project_dir

pytestmark = pytest.mark.integration

#: What each merge-protection decision's reason must say.
REASONS = {
    "blocked": re.compile(r"^value is on the identity blocklist$"),
    "shared": re.compile(r"^value is carried by \d+ distinct entities in .+ \(more than \d+\): treated as shared$"),
    "over_limit": re.compile(r"^stitching would give one customer (\d+) (\w+) values \(max (\d+)\)$"),
}


#: The identifier types a customer may hold only so many of (the `identity_rules` seed's max_per_customer).
with open(dbt_project_dir() / "seeds" / "identity" / "identity_rules.csv", newline="") as rules:
    LIMITED_TYPES = {row["identifier_type"] for row in csv.DictReader(rules) if row["max_per_customer"]}


def test_explain_a_customer_merged_from_several_sources(unified, monkeypatch):
    with duckdb.connect(str(unified.warehouse), read_only=True) as con:
        customer_id, record_count = con.execute(
            "select customer_id, record_count from marts.golden_customers "
            "where sources like '%crm%' and sources like '%email%' order by record_count desc, customer_id limit 1"
        ).fetchone()
        xref = con.execute(
            "select source, stream, record_id from marts.customer_xref where customer_id = ? order by 1, 2, 3",
            [customer_id],
        ).fetchall()
        shared = con.execute(
            """select r.identifier_type, r.identifier_value, count(distinct r.record_key)
               from intermediate.int_identity_resolution r
               join intermediate.int_customer_records c using (record_key)
               where c.customer_id = ? and r.decision = 'stitched' and r.identifier_type <> 'record'
               group by 1, 2 having count(distinct r.record_key) > 1 order by 1, 2""",
            [customer_id],
        ).fetchall()
    explanation = explain_customer(unified, customer_id)

    assert explanation.records == xref and len(xref) == record_count > 1
    assert explanation.identifiers == [(t, mask_identifier(t, v), n) for t, v, n in shared]
    assert {t for t, _, _ in explanation.identifiers} & {"email", "phone", "crm_contact_id"}
    assert all("***@" in value for kind, value, _ in explanation.identifiers if kind == "email")
    assert {row[0] for row in explanation.lineage} >= {"email"}

    monkeypatch.setenv("TESSERA_HOME", str(unified.root))
    result = CliRunner().invoke(app, ["explain", customer_id])
    assert result.exit_code == 0, result.output
    assert "Identifiers that joined them" in result.output and customer_id in result.output


def test_explain_shows_what_merge_protection_kept_out_with_the_reason_for_each_decision(unified):
    with duckdb.connect(str(unified.warehouse), read_only=True) as con:
        kept = con.execute(
            """select c.customer_id, d.record_key, d.identifier_type, d.identifier_value, d.decision, d.reason
               from intermediate.int_identity_decisions d
               join intermediate.int_customer_records c using (record_key)
               order by c.customer_id, d.decision, d.identifier_type, d.record_key"""
        ).fetchall()
    assert {row[4] for row in kept} <= set(REASONS) and kept, "the seed-11 world has merge-protection decisions"
    for decision in sorted({row[4] for row in kept}):
        customer_id = next(row[0] for row in kept if row[4] == decision)
        expected = [(r, t, mask_identifier(t, v), d, why) for c, r, t, v, d, why in kept if c == customer_id]
        explanation = explain_customer(unified, customer_id)
        assert explanation.kept_out == expected
        for *_, shown_decision, reason in explanation.kept_out:
            found = REASONS[shown_decision].match(reason)
            assert found, f"{shown_decision}: {reason!r}"
            if shown_decision == "over_limit":  # names the limit the merge would break, on any identifier type
                held, kind, limit = found.groups()
                assert kind in LIMITED_TYPES and int(held) > int(limit)


def test_explain_an_unknown_customer_is_a_clear_error(unified, monkeypatch):
    monkeypatch.setenv("TESSERA_HOME", str(unified.root))
    result = CliRunner().invoke(app, ["explain", "cus_nope"])
    assert result.exit_code == 1 and "no customer 'cus_nope'" in result.output
