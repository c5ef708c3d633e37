"""Readers see the last complete, published warehouse while builds run, crash, or are published.

Builds and publications run in child processes that hold, tear and get killed (SIGKILL) at the step under
test; a stand-in build (`toy_build`) writes the working file with plain DuckDB statements, and one test
publishes the real dbt marts.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from tessera.audit import audit_entries
from tessera.home import TesseraHome
from tessera.publication import last_publication, manifest_path, publish_warehouse, published_path
from tessera.warehouse import connect, connect_working, mart_counts
from tests.publication import toy_build
from tests.publication.processes import wait_until

pytestmark = pytest.mark.integration

BEFORE, AFTER = 1_000, 1_500  # customers of the published generation 1 and of the next build


def seed(home: TesseraHome, customers: int = BEFORE, padding_rows: int = 200_000) -> None:
    """Generation 1, built in the working file and published: what readers see to begin with."""
    home.root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(home.warehouse)) as con:
        toy_build.build(con, generation=1, customers=customers, padding_rows=padding_rows)
    publish_warehouse(home)


def orphans(con) -> int:
    return con.execute(toy_build.ORPHANS_SQL).fetchone()[0]


def test_readers_keep_reading_through_a_build_and_see_the_new_marts_once_published(home, children):
    seed(home)
    reader = children("reader", home.root)
    reader.wait_for("ready")
    golden = "select count(*) from marts.golden_customers"
    assert reader.ask(golden) == BEFORE

    # A write-heavy build holds the working file (DuckDB's writer lock), stopped between two marts.
    build = children("build", home.root, 2, AFTER, 2_000_000, "pause")
    build.wait_for("writing")
    build.wait_for("xref replaced")
    with pytest.raises(RuntimeError, match="locked by a running build"):
        with connect_working(home):
            pass
    # The reader that was open keeps answering, and a new reader is not locked out: both see generation 1 whole.
    assert reader.ask(golden) == BEFORE
    assert reader.ask(toy_build.ORPHANS_SQL) == 0
    with connect(home) as con:
        assert mart_counts(home) == toy_build.expected_counts(BEFORE)
        assert orphans(con) == 0

    build.send("go")
    build.wait_for("built")
    build.wait_for("published")

    # The open reader still reads its snapshot, including blocks it had never read before the swap.
    assert reader.ask(golden) == BEFORE
    assert reader.ask("select count(*) from marts.customer_xref where customer_id like 'g2-%'") == 0
    assert reader.ask("select count(*) from staging.padding") == 200_000
    # A new reader sees the new marts, whole.
    assert mart_counts(home) == toy_build.expected_counts(AFTER)
    with connect(home) as con:
        assert orphans(con) == 0
        assert con.execute("select count(*) from staging.padding").fetchone()[0] == 2_000_000
    assert last_publication(home).tables == toy_build.expected_counts(AFTER)


def test_a_build_killed_half_way_leaves_the_published_marts_whole(home, children):
    seed(home)
    published_before = manifest_path(home).read_text()
    build = children("build", home.root, 2, AFTER, 500_000, "pause")
    build.wait_for("xref replaced")
    build.kill()

    # The working file is torn: the new customer_xref next to the old golden_customers.
    with connect_working(home) as con:
        assert con.execute("select count(*) from marts.customer_xref").fetchone()[0] == 2 * AFTER
        assert orphans(con) == 2 * AFTER
    # Readers see generation 1, whole, as it was published.
    assert mart_counts(home) == toy_build.expected_counts(BEFORE)
    with connect(home) as con:
        assert orphans(con) == 0
        assert con.execute("select min(customer_id) from marts.customer_xref").fetchone()[0].startswith("g1-")
    assert manifest_path(home).read_text() == published_before


def test_a_publication_killed_during_the_copy_leaves_the_previous_one_and_the_next_cleans_up(home, children):
    seed(home)
    published_before = json.loads(manifest_path(home).read_text())
    with duckdb.connect(str(home.warehouse)) as con:  # a finished build of generation 2, large enough to copy slowly
        toy_build.build(con, generation=2, customers=AFTER, padding_rows=5_000_000)
    working_size = home.warehouse.stat().st_size
    partial = published_path(home).with_name("warehouse.duckdb.partial")

    publication = children("publish", home.root)
    wait_until(lambda: partial.exists() and partial.stat().st_size > 0, what="the copy to start")
    publication.kill()
    assert partial.stat().st_size < working_size, "the kill came after the copy had finished: copy a larger file"

    assert mart_counts(home) == toy_build.expected_counts(BEFORE)
    with connect(home) as con:
        assert orphans(con) == 0
    assert json.loads(manifest_path(home).read_text()) == published_before
    assert last_publication(home).tables == toy_build.expected_counts(BEFORE)

    published = publish_warehouse(home)
    assert not partial.exists()
    assert sorted(p.name for p in published.path.parent.iterdir()) == [
        ".publish.lock",
        "warehouse.duckdb",
        "warehouse.json",
    ]
    assert published.tables == mart_counts(home) == toy_build.expected_counts(AFTER)
    assert published.size_bytes == working_size
    assert last_publication(home) == published
    # The audit log names both publications (the killed one published nothing) and what the second changed.
    first, second = audit_entries(home, "publication")
    assert first["details"]["rows_changed"] == toy_build.expected_counts(BEFORE)
    expected = {t: n - toy_build.expected_counts(BEFORE)[t] for t, n in toy_build.expected_counts(AFTER).items()}
    assert second["details"]["rows_changed"] == {t: d for t, d in expected.items() if d}


def test_publishing_again_is_idempotent_and_a_publication_refuses_a_working_file_in_use(home, children):
    seed(home)
    first = last_publication(home)
    again = publish_warehouse(home)
    assert (again.tables, again.size_bytes) == (first.tables, first.size_bytes)
    assert again.published_at > first.published_at

    build = children("build", home.root, 2, AFTER, 0, "pause")
    build.wait_for("xref replaced")
    with pytest.raises(RuntimeError, match="open elsewhere"):
        publish_warehouse(home)
    assert last_publication(home) == again
    assert mart_counts(home) == toy_build.expected_counts(BEFORE)


def test_readers_before_any_publication_are_told_to_run_the_transform(home):
    expected = f"no published warehouse at {published_path(home)}: run `tessera transform` first"
    with pytest.raises(FileNotFoundError) as raised:
        with connect(home):
            pass
    assert str(raised.value) == expected
    with pytest.raises(FileNotFoundError, match="run `tessera transform` first"):
        mart_counts(home)
    with pytest.raises(FileNotFoundError, match="no working warehouse"):
        publish_warehouse(home)
    assert last_publication(home) is None
    assert not published_path(home).exists()
