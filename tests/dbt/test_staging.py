"""`dbt build` of the staging layer and web enrichment on a lake landed from a small simulated world.

One build per module: a simulation of 300 customers over an initial load and two daily batches,
extracted by the real connectors, then the dbt unit tests, models and data tests in one `dbt build`.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict

import duckdb
import pytest

from connectors.contract import contract_for
from connectors.registry import registry
from tessera.dbt_runner import run_dbt
from tessera.home import TesseraHome
from tessera.resources import dbt_project_dir
from tests.dbt.simulated_lake import land_simulated_lake
from tests.lake_reader import landed

pytestmark = pytest.mark.integration

SELECTION = ["--select", "+staging", "+int_web_events_enriched"]
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("staging")
    home = TesseraHome(root / "home")
    land_simulated_lake(home, root / "sim", customers=300, days=2)
    result = run_dbt(["build", *SELECTION], home)
    return home, result


@pytest.fixture(scope="module")
def warehouse(built) -> TesseraHome:
    home, _ = built
    return home


def rows(home: TesseraHome, sql: str) -> list[dict]:
    """Query the built warehouse, as any reader does: read-only, and only for as long as it takes."""
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def junk(kind: str) -> set[str]:
    with open(dbt_project_dir() / "seeds" / "junk_values.csv", newline="") as f:
        return {r["value"] for r in csv.DictReader(f) if r["applies_to"] in (kind, "any")}


def latest_versions(home: TesseraHome, source: str, stream: str) -> dict[str, dict]:
    """The latest landed version of each record, by the contract's ordering."""
    table = landed(home.lake, source, stream).to_pylist()
    ordered_by = "updated_at" if any("updated_at" in r for r in table[:1]) else "occurred_at"
    latest: dict[str, dict] = {}
    for record in sorted(table, key=lambda r: (r[ordered_by], r["_extracted_at"], r["_batch_id"])):
        latest[record[contract_for(source, stream).key]] = record
    return latest


def test_the_build_ran_every_selected_unit_test_model_and_data_test_and_all_passed(built):
    home, result = built
    ran = defaultdict(dict)
    for node_result in result.result.results:
        ran[str(node_result.node.resource_type)][node_result.node.name] = str(node_result.status)
    for resource_type, status in (("unit_test", "pass"), ("model", "success"), ("test", "pass")):
        listed = run_dbt(["ls", *SELECTION, "--resource-type", resource_type, "--output", "name"], home).result
        assert set(ran[resource_type]) == {name.split(".")[-1] for name in listed}, resource_type
        assert set(ran[resource_type].values()) == {status}, resource_type
    staging = {f"stg_{c.source}__{c.stream}" for c in registry().streams}
    assert set(ran["model"]) == staging | {"int_web_events_enriched"}
    assert {name.split("_")[0] for name in ran["unit_test"]} >= {"stg"}


def test_models_land_in_the_staging_and_intermediate_schemas(warehouse):
    tables = {(r["table_schema"], r["table_name"]) for r in rows(warehouse, "select * from information_schema.tables")}
    for contract in registry().streams:
        assert ("staging", f"stg_{contract.source}__{contract.stream}") in tables
    assert ("intermediate", "int_web_events_enriched") in tables


@pytest.mark.parametrize(("source", "stream"), [(c.source, c.stream) for c in registry().streams])
def test_one_row_per_landed_record_at_its_latest_version(built, warehouse, source, stream):
    home, _ = built
    key = contract_for(source, stream).key
    latest = latest_versions(home, source, stream)
    expected = {k for k, r in latest.items() if not r.get("is_deleted")}
    staged = [r[key] for r in rows(warehouse, f"select {key} from staging.stg_{source}__{stream}")]
    assert len(staged) == len(set(staged)), "duplicate keys in staging"
    assert set(staged) == expected
    if source == "crm":
        assert len(expected) < len(latest), "the simulation should archive some contacts"


def test_contacts_carry_their_latest_version(built, warehouse):
    home, _ = built
    latest = latest_versions(home, "crm", "contacts")
    for contact in rows(warehouse, "select contact_id, updated_at, _batch_id, phone from staging.stg_crm__contacts"):
        landed_version = latest[contact["contact_id"]]
        assert (contact["updated_at"], contact["_batch_id"], contact["phone"]) == (
            landed_version["updated_at"],
            landed_version["_batch_id"],
            landed_version["phone"],
        )


def test_phones_are_e164_and_most_typed_phones_are_read(warehouse):
    for table in ("stg_crm__contacts", "stg_pos__loyalty_members", "stg_pos__transactions"):
        phones = rows(warehouse, f"select phone, phone_e164 from staging.{table} where phone is not null")
        read = [r["phone_e164"] for r in phones if r["phone_e164"]]
        assert all(E164.match(p) for p in read), table
        assert len(read) >= 0.6 * len(phones), f"{table}: only {len(read)} of {len(phones)} phones read"
        assert not {r["phone_e164"] for r in phones if r["phone"].strip().lower() in junk("phone")} - {None}


def test_no_placeholder_survives(warehouse):
    emails = {
        r["email"]
        for table, column in [
            ("stg_crm__contacts", "email"),
            ("stg_email__subscribers", "email"),
            ("stg_pos__loyalty_members", "email"),
            ("stg_pos__transactions", "receipt_email"),
            ("stg_web__events", "email"),
        ]
        for r in rows(warehouse, f"select {column} as email from staging.{table} where {column} is not null")
    }
    assert emails and not emails & junk("email")
    assert all(e == e.strip().lower() and e.count("@") == 1 for e in emails)
    names = {
        r["name"].lower()
        for table in ("stg_crm__contacts", "stg_email__subscribers", "stg_pos__loyalty_members")
        for r in rows(
            warehouse,
            f"select first_name as name from staging.{table} where first_name is not null "
            f"union all select last_name from staging.{table} where last_name is not null",
        )
    }
    assert names and not names & junk("name")
    birth_dates = rows(warehouse, "select birth_date_raw, birth_date from staging.stg_crm__contacts")
    assert not {r["birth_date"] for r in birth_dates if (r["birth_date_raw"] or "").lower() in junk("date")} - {None}


def test_gmail_addresses_are_canonicalised(warehouse):
    pairs = rows(
        warehouse,
        "select email, email_canonical from staging.stg_crm__contacts where email is not null "
        "union all select email, email_canonical from staging.stg_email__subscribers where email is not null",
    )
    gmail = [p for p in pairs if p["email"].split("@")[1] in ("gmail.com", "googlemail.com")]
    assert gmail, "the simulation should have gmail addresses"
    for p in gmail:
        local, domain = p["email_canonical"].split("@")
        assert domain == "gmail.com" and "." not in local and "+" not in local
        assert local == p["email"].split("@")[0].split("+")[0].replace(".", "")
    for p in pairs:
        assert "+" not in p["email_canonical"].split("@")[0]
    assert any(p["email"] != p["email_canonical"] for p in gmail), "no gmail variant was folded"


def test_names_streets_dates_and_countries_are_normalised(warehouse):
    contacts = rows(
        warehouse,
        "select first_name_norm, last_name_norm, street_norm, postcode_norm, birth_date, birth_date_raw, country "
        "from staging.stg_crm__contacts",
    )
    for c in contacts:
        for name in (c["first_name_norm"], c["last_name_norm"]):
            assert name is None or re.fullmatch(r"[a-z][a-z '\-]*", name), name
        assert c["street_norm"] is None or re.fullmatch(r"[a-z0-9 \-]+", c["street_norm"]), c["street_norm"]
        assert c["street_norm"] is None or not set(c["street_norm"].split()) & {"st", "ave", "rd", "ln", "dr", "blvd"}
        assert c["postcode_norm"] is None or " " not in c["postcode_norm"]
        assert c["country"] is None or re.fullmatch(r"[A-Z]{2}", c["country"])
        assert c["birth_date"] is None or 1901 <= c["birth_date"].year <= 2026
    typed = [c for c in contacts if c["birth_date_raw"] and c["birth_date_raw"].lower() not in junk("date")]
    assert typed and all(c["birth_date"] for c in typed), "a birth date in a known format was not read"


def test_web_events_are_enriched(warehouse):
    events = rows(
        warehouse,
        "select user_agent, ip, device_type, browser_family, os_family, ip_country from intermediate.int_web_events_enriched",
    )
    with_agent = [e for e in events if e["user_agent"]]
    assert with_agent and all(e["device_type"] in {"desktop", "mobile", "tablet", "bot"} for e in with_agent)
    assert {e["device_type"] for e in with_agent} >= {"desktop", "mobile"}
    assert all(e["browser_family"] and e["os_family"] for e in with_agent)
    assert sum(1 for e in events if e["ip_country"]) >= 0.5 * sum(1 for e in events if e["ip"])


def test_a_failed_dbt_invocation_names_what_failed(built):
    home, _ = built
    with pytest.raises(RuntimeError) as failure:
        run_dbt(
            ["test", "--select", "stg_crm__contacts_parses_birth_dates", "--vars", "{birth_date_min_year: 3000}"], home
        )
    message = str(failure.value)
    assert "unit_test.tessera.stg_crm__contacts.stg_crm__contacts_parses_birth_dates [fail]" in message
    assert "\x1b[" not in message


def test_artifacts_go_under_the_home_unless_the_caller_says_where(built, tmp_path):
    home, _ = built
    assert (home.root / "dbt" / "target" / "run_results.json").exists()
    run_dbt(["parse", "--target-path", str(tmp_path / "elsewhere")], home)
    assert (tmp_path / "elsewhere" / "manifest.json").exists()


def test_unit_tests_need_no_lake(tmp_path):
    """With nothing landed, the lake sources are empty typed views, so dbt's unit tests still run."""
    home = TesseraHome(tmp_path / "empty")
    run_dbt(["seed"], home)
    result = run_dbt(["test", "--select", "test_type:unit,path:models/staging"], home)
    statuses = [str(r.status) for r in result.result.results if r.node.resource_type == "unit_test"]
    assert len(statuses) >= 11 and set(statuses) == {"pass"}
