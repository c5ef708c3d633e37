"""On a daily run the data tests of staging and web enrichment check the rows that run wrote, and a row whose
test failed is checked again by every later run until it is fixed."""

from __future__ import annotations

import json

import duckdb
import pytest

from tessera.dbt_runner import PRODUCTION_BUILD_FLAGS, dbt_artifacts_dir, run_dbt
from tessera.home import TesseraHome
from tests.dbt.simulated_lake import land_simulated_lake

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUILD = ["build", *PRODUCTION_BUILD_FLAGS]
UNIQUE_CONTACT = "unique_stg_crm__contacts_contact_id"


def compiled_tests(home: TesseraHome) -> dict[str, str]:
    results = json.loads((dbt_artifacts_dir(home) / "target" / "run_results.json").read_text())
    return {r["unique_id"].split(".")[2]: r.get("compiled_code") or "" for r in results["results"]}


def test_daily_runs_check_new_rows_and_recheck_rows_that_failed(tmp_path):
    home = TesseraHome(tmp_path / "home")
    land_simulated_lake(
        home, tmp_path / "sim", customers=120, days=1, after_day=lambda day: run_dbt(BUILD, home) if day == 0 else None
    )
    # The daily run checks the rows it wrote; a table it rebuilds whole, every row.
    run_dbt(BUILD, home)
    tests = compiled_tests(home)
    assert "_visible_at > coalesce(" in tests[UNIQUE_CONTACT]
    assert "_visible_at > coalesce(" in tests["unique_int_web_events_enriched_message_id"]
    assert "_visible_at >" not in tests["unique_int_profile_records_record_key"]

    # A contact that a run wrote twice (a bug in the model's SQL, say) fails that run's test...
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            """insert into staging.stg_crm__contacts
               select newest.* replace (newest._visible_at + interval 1 second as _visible_at)
               from (select * from staging.stg_crm__contacts order by _visible_at desc limit 1) as newest, range(2) as copies(n)"""
        )
    with pytest.raises(RuntimeError, match=UNIQUE_CONTACT):
        run_dbt(BUILD, home)
    # ... and the next run's, though it lands nothing new: the watermark moved on only after a passing run.
    with pytest.raises(RuntimeError, match=UNIQUE_CONTACT):
        run_dbt(BUILD, home)

    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            """delete from staging.stg_crm__contacts
               where _visible_at = (select max(_visible_at) from staging.stg_crm__contacts)"""
        )
    run_dbt(BUILD, home)

    # A full refresh checks every row again.
    run_dbt([*BUILD, "--full-refresh"], home)
    assert "_visible_at >" not in compiled_tests(home)[UNIQUE_CONTACT]
