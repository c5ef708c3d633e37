"""Forgetting a person in a small simulated world, landed by the connectors and built by dbt: afterwards no
file under `$TESSERA_HOME` holds a byte of them, other people's rows are as they were, a rerun changes
nothing, later extractions drop them, and an interrupted erasure is finished by its rerun."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from connectors.base import Window
from connectors.extraction import SUPPRESSED_REASON, extract
from connectors.registry import registry
from connectors.state import StateStore
from tessera.erasure import forget, parse_request
from tessera.erasure.resolve import plan_path
from tessera.erasure.suppression import is_suppressed
from tessera.publication import last_publication, mart_table_counts_of, published_path
from tests.erasure.byte_scan import occurrences, parquet_text
from tests.erasure.conftest import pick_person

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def lake_parquet(home) -> dict[str, bytes]:
    return {str(p.relative_to(home.root)): p.read_bytes() for p in sorted(home.lake.rglob("*.parquet"))}


def golden_ids(home) -> set[str]:
    con = duckdb.connect(str(published_path(home)), read_only=True)
    try:
        return {c for (c,) in con.execute("select customer_id from marts.golden_customers").fetchall()}
    finally:
        con.close()


def test_forgetting_by_email_leaves_no_byte_of_the_person(erasure_home):
    home = erasure_home
    person = pick_person(home)
    assert len(person.record_ids) >= 3
    before = occurrences(home.root, person.spellings)
    assert set(before) == set(person.spellings), set(person.spellings) - set(before)  # the scan does find them
    files_before = lake_parquet(home)
    with_person = {
        name
        for name in files_before
        if any(s.lower().encode() in parquet_text(home.root / name).lower() for s in person.spellings)
    }
    assert with_person and len(with_person) < len(files_before)
    tables_before = {name: pq.read_table(home.root / name).to_pylist() for name in with_person}

    report = forget(home, parse_request("email", f"  {person.email.upper()} "))

    assert report.outcome == "erased"
    assert report.customer_ids >= 1
    assert report.counts["lake_raw_rows"] >= len(person.record_ids)
    assert report.counts["warehouse_rows"] > 0 and report.counts["published_rows"] > 0
    assert occurrences(home.root, person.spellings) == {}
    # Files without the person are byte-identical; the files they shared hold everyone else's rows, in order.
    files_after = lake_parquet(home)
    assert set(files_after) == set(files_before)
    for name in set(files_before) - with_person:
        assert hashlib.sha256(files_after[name]).digest() == hashlib.sha256(files_before[name]).digest(), name
    for name in with_person:
        after = pq.read_table(home.root / name).to_pylist()
        lowered = [s.lower() for s in person.spellings]
        expected = [
            row for row in tables_before[name] if not any(s in json.dumps(row, default=str).lower() for s in lowered)
        ]
        assert after == expected, name
    # The publication still describes its file; the person's customer is gone and nobody else.
    publication = last_publication(home)
    assert publication is not None
    assert publication.tables == mart_table_counts_of(published_path(home))
    assert person.customer_id not in golden_ids(home)
    assert is_suppressed(home, "email", person.email) and is_suppressed(home, "phone", person.phone)
    assert not plan_path(home, parse_request("email", person.email)).exists()
    audit = (home.root / "audit" / "audit.jsonl").read_text()
    erasures = [json.loads(line) for line in audit.splitlines() if '"erasure"' in line]
    assert erasures and person.email not in audit

    again = forget(home, parse_request("email", person.email))
    assert again.changes == 0, again.counts
    unknown = forget(home, parse_request("email", "nobody.at.all@nowhere.example"))
    assert unknown.outcome == "no records found"
    assert unknown.customer_ids == 0 and unknown.counts.get("lake_raw_rows", 0) == 0

    # dbt builds on the rewritten warehouse as before, and the person does not come back.
    from tessera.dbt_runner import run_transform

    others = golden_ids(home)
    run_transform(home)
    assert golden_ids(home) == others
    assert occurrences(home.root, person.spellings) == {}


def test_a_later_extraction_drops_the_person_and_counts_it(world, erasure_home):
    home = erasure_home
    person = pick_person(home)
    contact_id = person.record_ids["crm.contacts"][0]
    forget(home, parse_request("crm_id", contact_id))

    reasons = {}
    for source in ("crm", "email"):  # re-run the first full load: the sources still hold everyone
        for stream in registry().source(source).build_streams(world.sources.conn(source)):
            state = StateStore(home.state, source, stream.contract.stream).load()
            first = next(b for b in state.batches.values() if b.window_start is None)
            window = Window(None, datetime.fromisoformat(first.window_end))
            result = extract(stream, window, lake=home.lake, state_dir=home.state, batch_id=first.batch_id)
            assert result.rerun
            reasons[stream.contract.name] = result.reasons[SUPPRESSED_REASON]
    assert reasons["crm.contacts"] >= 1 and reasons["email.subscribers"] >= 1, reasons
    assert occurrences(home.root, person.spellings) == {}


def test_an_erasure_killed_between_the_lake_and_the_warehouse_is_finished_by_its_rerun(erasure_home):
    home = erasure_home
    person = pick_person(home)
    request = parse_request("phone", person.phone)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.erasure.child", "phone", person.phone],
        cwd=REPO,
        env={**os.environ, "TESSERA_HOME": str(home.root)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline().strip()  # blocks until the child has erased the lake, or died
        assert line == "lake erased", line
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=60)
    assert plan_path(home, request).exists()  # the plan keeps the spellings the lake no longer has
    left = occurrences(home.root, person.spellings)
    assert any(f.endswith("warehouse.duckdb") for files in left.values() for f in files), left
    assert not any(f.startswith("lake/") and f.endswith(".parquet") for files in left.values() for f in files), left

    report = forget(home, request)
    assert report.outcome == "erased" and report.counts["warehouse_rows"] > 0
    assert report.counts["lake_raw_rows"] == 0  # done by the interrupted run
    assert occurrences(home.root, person.spellings) == {}
    assert not plan_path(home, request).exists()


def test_the_cli_forgets_by_customer_id_and_prints_counts_never_the_value(erasure_home):
    from typer.testing import CliRunner

    from tessera.cli import app

    home = erasure_home
    person = pick_person(home)
    result = CliRunner().invoke(app, ["forget", "--customer-id", person.customer_id])
    assert result.exit_code == 0, result.output
    assert "erased" in result.output and "lake_raw_rows" in result.output
    assert person.customer_id not in result.output
    assert occurrences(home.root, person.spellings) == {}
    unknown = CliRunner().invoke(app, ["forget", "--email", "nobody.at.all@nowhere.example"])
    assert unknown.exit_code == 0 and "no records found" in unknown.output
    assert "nobody.at.all" not in unknown.output
    both = CliRunner().invoke(app, ["forget", "--email", "a@b.example", "--phone", "+4915760774570"])
    assert both.exit_code == 1 and "exactly one" in both.output
