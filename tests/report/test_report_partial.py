"""The report of a home that has little or nothing yet: every section says what is missing, none fails."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import duckdb
import pytest

from tessera.home import TesseraHome
from tessera.publication import published_path
from tessera.report import LATEST, record_publication, write_report
from tessera.report.gather import Missing, batch_day, gather_report
from tessera.report.history import history_path, publication_history
from tests.checks.conftest import contacts, land_pending
from tests.lake_writer import land

pytestmark = pytest.mark.unit

SECTIONS = ("lake", "customers", "matching", "growth", "activation", "quality")


def missing_notes(html: str, anchor: str) -> list[str]:
    body = re.search(rf'<section id="{anchor}">(.*?)</section>', html, flags=re.S)[1]
    return re.findall(r'<p class="missing">([^<]*)</p>', body)


def test_an_empty_home_gets_a_report_that_says_so(home):
    path = write_report(home, now=datetime(2026, 3, 1, 12, tzinfo=UTC))

    assert path == home.root / "reports" / "report-20260301T120000Z.html"
    html = path.read_text()
    assert (path.parent / LATEST).read_text() == html
    for anchor in SECTIONS:
        assert missing_notes(html, anchor), f"section {anchor} does not say what is missing"
    assert "<svg" not in html
    assert "nothing has landed in the lake" in html
    assert "no published warehouse at" in html
    assert "no segment has been synced" in html
    assert "no batch has landed and no check has run yet" in html


def test_a_lake_without_a_warehouse_shows_the_lake_and_says_the_rest_is_missing(home):
    land(home.lake, "crm", "contacts", "20260101T000000Z", contacts(40))
    land(home.lake, "crm", "contacts", "20260102T000000Z", contacts(10, start=40))
    land(home.lake, "crm", "contacts", "manual-fix", contacts(3, start=60))  # a foreign load's id: no time
    land_pending(home.lake, "email", "subscribers", 1, [])

    data = gather_report(home)
    html = write_report(home).read_text()

    assert [(d.source, d.day, d.landed, d.quarantined) for d in data.lake.days] == [
        ("crm", "2026-01-01", 40, 0),
        ("crm", "2026-01-02", 10, 0),
        ("crm", "undated", 3, 0),
        ("email", "2026-01-02", 0, 0),
    ]
    assert missing_notes(html, "lake") == []
    assert html.count("<svg") >= 2
    for anchor in ("customers", "matching", "growth"):
        assert any("no published warehouse" in note for note in missing_notes(html, anchor)), anchor
    assert isinstance(data.syncs, Missing)
    states = {q.stream: q.states for q in data.quality.streams}
    assert states["crm.contacts"]["checked"] == 3
    assert states["email.subscribers"]["pending"] == 1


def test_batch_days_come_from_the_interval_start_in_the_id():
    assert batch_day("20260103T000000Z") == "2026-01-03"
    assert batch_day("20260101T230000Z") == "2026-01-01"
    assert batch_day("upto-20260105T000000Z") == "2026-01-05"
    assert batch_day("manual-backfill") is None


def test_a_publication_is_recorded_as_counts_and_read_back_in_order(home):
    path = published_path(home)
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema segments")
    con.execute("create table marts.golden_customers as select 'cus_' || i as customer_id from range(5) t(i)")
    con.execute("create table segments.vips as select 'cus_' || i as customer_id from range(2) t(i)")
    con.close()

    second = record_publication(home, datetime(2026, 1, 2, tzinfo=UTC))
    first = record_publication(home, datetime(2026, 1, 1, tzinfo=UTC))
    with open(history_path(home), "a") as torn:
        torn.write('{"published_at": "2026-01-0')  # a crash half-way through a line

    assert second == {
        "published_at": "2026-01-02T00:00:00+00:00",
        "marts": {"golden_customers": 5},
        "segments": {"vips": 2},
    }
    assert publication_history(home) == [first, second]
    assert "cus_" not in history_path(home).read_text()


def test_a_publication_that_cannot_be_counted_is_logged_not_raised(home, caplog):
    assert record_publication(home, datetime(2026, 1, 1, tzinfo=UTC)) is None
    assert "could not record the publication" in caplog.text
    assert publication_history(home) == []


def test_a_history_without_a_warehouse_still_draws_segment_sizes(home):
    history_path(home).parent.mkdir(parents=True)
    history_path(home).write_text(
        '{"published_at": "2026-01-01T00:00:00+00:00", "marts": {}, "segments": {"vips": 3}}\n'
        '{"published_at": "2026-01-02T00:00:00+00:00", "marts": {}, "segments": {"vips": 5}}\n'
    )

    data = gather_report(TesseraHome(home.root))

    assert [n for _, n in data.segments.published["vips"]] == [3, 5]
    html = write_report(home).read_text()
    assert "Segment members at each publication" in html


def test_a_held_batch_is_listed_with_what_failed_but_not_the_failing_values(home):
    from connectors.contract import contract_for
    from tessera.checks import check_batch
    from tests.checks.conftest import NOW, batch_id

    rows = contacts(6)
    rows[5]["contact_id"] = rows[1]["contact_id"]
    land_pending(home.lake, "crm", "contacts", 0, rows)
    assert not check_batch(home, contract_for("crm", "contacts"), batch_id(0), now=NOW).passed

    html = write_report(home).read_text()

    held = re.search(r"<caption>Held batches</caption>(.*?)</table>", html, flags=re.S)[1]
    assert "crm.contacts" in held and batch_id(0) in held
    assert "expect_column_values_to_be_unique on contact_id" in held
    assert "C00001" not in html
    assert [row["email"] for row in rows if row["email"] in html] == []
    assert "Data Docs (every suite and validation)" in html


def test_the_command_has_help_and_reports_an_empty_home(home):
    from typer.testing import CliRunner

    from tessera.cli import app

    runner = CliRunner()
    assert "Write the run report" in runner.invoke(app, ["report", "--help"]).output

    result = runner.invoke(app, ["report"], env={"COLUMNS": "300", "TESSERA_HOME": str(home.root)})

    assert result.exit_code == 0, result.output
    assert (home.root / "reports" / LATEST).exists()
    assert str(home.root / "reports" / "report-") in result.output
