"""The run report of a real build: a small simulated world landed, built, published and synced, then
`tessera report`. Every section is there, its figures are the warehouse's, and the page is offline and
holds no one's identifiers."""

from __future__ import annotations

import re
import traceback
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tessera.activation.runs import activations, run_sync
from tessera.activation.state import sync_log
from tessera.cli import app
from tessera.connections import connection_env
from tessera.dbt_runner import run_transform
from tessera.home import TesseraHome
from tessera.publication import published_path
from tessera.report import LATEST, write_report
from tessera.report.gather import Missing, gather_report
from tessera.report.history import publication_history
from tests.dbt.simulated_lake import land_simulated_lake

pytestmark = pytest.mark.integration

SECTIONS = ("lake", "customers", "matching", "growth", "activation", "quality")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def built(tmp_path_factory, dbt_manifest) -> TesseraHome:
    """300 simulated people, an initial load and two daily batches, built and published, its publication
    recorded, and one segment synced to a file drop."""
    home = TesseraHome(tmp_path_factory.mktemp("report"))
    land_simulated_lake(home, home.root / "sim", customers=300, days=2)
    run_transform(home)  # publishes, and the publication records itself in the report's history
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TESSERA_HOME", str(home.root))
        env.setenv("TESSERA_DBT_MANIFEST", str(dbt_manifest))
        drop = {"kind": "files", "path": str(home.root / "drop")}
        for key, value in connection_env("tessera_dest_marketing_drop", conn_type="fs", extra=drop).items():
            env.setenv(key, value)
        (activation,) = activations("lapsed_vips", "marketing_drop")
        result = run_sync(home, activation)
    assert not result.failed, result.error
    return home


@pytest.fixture(scope="module")
def page(built) -> str:
    return write_report(built).read_text()


def warehouse(home: TesseraHome, sql: str) -> list[tuple]:
    con = duckdb.connect(str(published_path(home)), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def text_of(html: str) -> str:
    """The page's visible text, charts left out, one space between cells."""
    html = re.sub(r"<svg.*?</svg>|<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&amp;", "&")


def test_every_section_has_its_figures_and_charts(page):
    for anchor in SECTIONS:
        found = re.search(rf'<section id="{anchor}">(.*?)</section>', page, flags=re.S)
        assert found, f"section {anchor} is missing"
        body = found[1]
        assert 'class="missing"' not in body, (anchor, re.findall(r'class="missing">([^<]*)', body))
        assert body.count("<svg") >= 1, f"section {anchor} has no chart"
    assert page.count('<svg role="img" class="chart"') >= 12


def test_the_figures_are_the_warehouses(built):
    data = gather_report(built)
    (golden,) = warehouse(built, "select count(*) from marts.golden_customers")[0]
    assert golden > 100

    coverage = data.coverage
    assert sum(coverage.by_source_count.values()) == golden
    assert sum(n for _, n in coverage.by_combination) == golden
    expected_by_count = dict(
        warehouse(built, "select len(string_split(sources, ',')), count(*) from marts.golden_customers group by 1")
    )
    assert {k: v for k, v in coverage.by_source_count.items() if v} == expected_by_count

    clusters = data.clusters
    assert clusters.customers == golden
    assert sum(n for _, n in clusters.records_per_customer) == golden
    assert sum(n for _, n in clusters.cluster_sizes) == golden
    assert clusters.records == warehouse(built, "select sum(record_count) from marts.golden_customers")[0][0]

    (edges,) = warehouse(built, "select count(*) from intermediate.int_identity_resolution")[0]
    assert sum(n for _, _, n in data.matches.edges_by_rule) == edges
    (pairs,) = warehouse(
        built, "select count(*) from intermediate.int_identity_edges__probabilistic where match_probability is not null"
    )[0]
    assert data.matches.probabilistic_pairs == pairs == sum(n for _, n in data.matches.pairs_by_band)
    assert sum(n for _, n in data.matches.pairs_by_evidence) == pairs

    assert data.growth.points[-1].customers == golden == data.growth.golden_rows

    segments = dict(warehouse(built, "select 'lapsed_vips', count(*) from segments.lapsed_vips"))
    assert data.segments.published["lapsed_vips"][-1][1] == segments["lapsed_vips"]
    assert len(publication_history(built)) == 1

    (logged,) = sync_log(built)
    (drop,) = data.syncs
    assert (drop.destination, drop.runs, drop.added, drop.last_status) == (
        "marketing_drop",
        1,
        logged["added"],
        "success",
    )


def test_lake_volume_counts_every_landed_and_quarantined_row(built):
    data = gather_report(built)
    con = duckdb.connect()
    landed, quarantined = (
        con.execute(
            f"select count(*) from read_parquet('{built.lake}/{zone}/*/*/batch_id=*/*.parquet', union_by_name=true)"
        ).fetchone()[0]
        for zone in ("raw", "quarantine")
    )
    assert data.lake.landed == landed
    assert data.lake.quarantined == quarantined
    assert data.lake.sources == ["crm", "email", "pos", "web"]
    assert all(re.fullmatch(r"2026-\d\d-\d\d", d.day) for d in data.lake.days)


def test_the_page_shows_the_warehouses_counts(built, page):
    (golden,) = warehouse(built, "select count(*) from marts.golden_customers")[0]
    text = text_of(page)
    assert f"{golden:,} golden customers" in text
    by_count = dict(
        warehouse(built, "select len(string_split(sources, ',')), count(*) from marts.golden_customers group by 1")
    )
    for n_sources, customers in by_count.items():
        assert f" {n_sources} {customers:,} {customers / golden:.1%} " in text


def test_the_page_loads_nothing_from_the_network(built, page):
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<img" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"\bsrc\s*=", page)
    hrefs = re.findall(r'href="([^"]*)"', page)
    outside = [h for h in hrefs if not h.startswith("#")]
    assert outside, "the report links to the Data Docs"
    report_dir = built.root / "reports"
    for href in outside:
        assert not re.match(r"^[a-z]+:", href), href  # relative: no scheme
        assert (report_dir / href).resolve().is_file(), href
    assert any(h.endswith("data_docs/index.html") for h in outside)


def test_the_page_holds_no_personal_data(built, page):
    assert EMAIL.findall(page) == []
    emails = [e for (e,) in warehouse(built, "select email from marts.golden_customers where email is not null")]
    phones = [p for (p,) in warehouse(built, "select phone from marts.golden_customers where phone is not null")]
    ids = [c for (c,) in warehouse(built, "select customer_id from marts.golden_customers")]
    assert emails and phones and ids
    assert [v for v in [*emails, *phones, *ids] if v in page] == []


def test_the_command_writes_the_report_and_latest(built, monkeypatch):
    monkeypatch.setenv("TESSERA_HOME", str(built.root))

    result = CliRunner().invoke(app, ["report"], env={"COLUMNS": "300"})

    assert result.exit_code == 0, result.output + "".join(traceback.format_exception(*result.exc_info))
    path = Path(re.search(r"Run report: (\S+\.html)", result.output)[1])
    assert path.parent == built.root / "reports" and path.name.startswith("report-")
    assert (path.parent / LATEST).read_text() == path.read_text()
    assert '<section id="quality">' in path.read_text()


def test_no_section_is_missing_on_the_built_home(built):
    data = gather_report(built)
    missing = {
        name: value.reason
        for name in ("lake", "publication", "clusters", "coverage", "matches", "growth", "segments", "syncs", "quality")
        if isinstance(value := getattr(data, name), Missing)
    }
    assert missing == {}
