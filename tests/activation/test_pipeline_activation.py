"""The whole way, three simulated days: sources land, the transform builds and checks the segments, and
every demo activation syncs to its stand-in destination. After each day every destination holds what its
segment says, compared row by row with the published warehouse, and nobody without marketing consent or
on the suppression list is anywhere; on the last day one segment's SQL is edited."""

from __future__ import annotations

import io
import json
import shutil

import duckdb
import pyarrow.csv as csv
import pytest
from tessera_simulator.destinations.demo import AUDIENCE_ID, LIST_ID, SEGMENT_ID, demo_destinations

from connectors.destinations.hashing import hashed
from tessera.activation.runs import activations, run_sync
from tessera.activation.state import open_state
from tessera.dbt_runner import parse_project, run_transform
from tessera.publication import published_path
from tests.dbt.simulated_lake import land_simulated_lake

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def audience(home, segment: str, consent: bool = True) -> dict[str, dict]:
    """Who the published segment says a marketing destination must hold: key -> golden identifiers."""
    con = duckdb.connect(str(published_path(home)), read_only=True)
    try:
        rows = con.execute(
            f"""
            select seg.customer_id, golden.email, golden.phone, golden.marketing_consent,
                   seg.customer_id in (select customer_id from marts.customer_suppressions) as suppressed
            from segments.{segment} as seg join marts.golden_customers as golden using (customer_id)
            """
        ).fetchall()
    finally:
        con.close()
    return {
        key: {"email": email, "phone": phone}
        for key, email, phone, consented, suppressed in rows
        if not consent or (consented and not suppressed)
    }


def unconsented(home) -> set[str]:
    con = duckdb.connect(str(published_path(home)), read_only=True)
    try:
        return {
            key
            for (key,) in con.execute(
                "select customer_id from marts.golden_customers where marketing_consent is not true "
                "union select customer_id from marts.customer_suppressions"
            ).fetchall()
        }
    finally:
        con.close()


def invalid_keys(home, segment: str, destination: str) -> set[str]:
    with open_state(home, segment, destination) as con:
        return {key for (key,) in con.execute("select key from invalid_rows").fetchall()}


def export_keys(data: bytes) -> set[str]:
    table = csv.read_csv(io.BytesIO(data), convert_options=csv.ConvertOptions(column_types={"customer_id": "string"}))
    return set(table.column("customer_id").to_pylist())


def check_destinations(home, destinations) -> None:
    """Each destination against its segment in the published warehouse."""
    forbidden = unconsented(home)
    for activation in activations():
        expected = {
            key: ids
            for key, ids in audience(home, activation.segment).items()
            if key not in invalid_keys(home, activation.segment, activation.destination)
        }
        assert not forbidden & set(expected)
        where = f"{activation.segment} -> {activation.destination}"
        if activation.destination == "meta_ads":
            rows = {
                frozenset(
                    (schema, hashed("meta", name, ids[name]))
                    for name, schema in (("email", "EMAIL"), ("phone", "PHONE"))
                    if ids[name]
                )
                for ids in expected.values()
            }
            assert destinations.audiences.members(AUDIENCE_ID) == rows, where
        elif activation.destination == "newsletter":
            assert destinations.esp.segment_members(LIST_ID, SEGMENT_ID) == {i["email"] for i in expected.values()}, (
                where
            )
        elif activation.destination == "crm":  # upsert: every member is there, with the key it was sent with
            contacts = destinations.crm.contacts()
            for key, ids in expected.items():
                assert contacts[ids["email"]]["tessera_customer_id"] == key, where
        elif activation.destination == "marketing_drop":
            latest = json.loads((destinations.folder / "exports" / activation.segment / "latest.json").read_text())
            assert export_keys((destinations.folder / "exports" / latest["file"]).read_bytes()) == set(expected), where
        elif activation.destination == "marketing_team":
            message = [m for m in destinations.smtp.messages() if activation.segment in m["Subject"]][-1]
            (attachment,) = message.iter_attachments()
            assert export_keys(attachment.get_payload(decode=True)) == set(expected), where
        else:
            raise AssertionError(f"no check for {where}")


def test_three_days_from_sources_to_destinations(home, tmp_path, monkeypatch):
    from tessera.airflow_local import configure
    from tessera.resources import dbt_project_dir

    project = shutil.copytree(dbt_project_dir(), tmp_path / "dbt_project", ignore=shutil.ignore_patterns("target"))
    monkeypatch.setenv("TESSERA_DBT_PROJECT_DIR", str(project))
    monkeypatch.delenv("TESSERA_DBT_MANIFEST", raising=False)
    configure(home)
    parse_project(home)
    sizes = []

    with demo_destinations(home) as destinations:

        def after_day(day: int) -> None:
            if day == 2:  # an analyst edits the segment's rule (any value, lapsed for a week) and its unit test
                sql, yml = (project / "models" / "segments" / f"lapsed_vips.{ext}" for ext in ("sql", "yml"))
                rule = sql.read_text()
                edited = rule.replace("settings['vip_lifetime_value']", "0").replace("settings['lapsed_days']", "7")
                assert edited != rule
                sql.write_text(edited)
                yml.write_text(yml.read_text().split("\nunit_tests:")[0] + "\n")
                parse_project(home)
            run_transform(home)
            for activation in activations():
                result = run_sync(home, activation)
                assert result.status == "success", (activation.name, result.error)
            check_destinations(home, destinations)
            sizes.append({a.segment: len(audience(home, a.segment)) for a in activations()})

        land_simulated_lake(home, tmp_path / "sim", customers=300, days=2, after_day=after_day)

    assert len(sizes) == 3
    assert sizes[2]["lapsed_vips"] > sizes[1]["lapsed_vips"]  # the edited rule took effect
    assert any(s != sizes[0] for s in sizes[1:])  # segments changed from day to day
