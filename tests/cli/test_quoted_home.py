"""A `$TESSERA_HOME` whose path holds a quote builds like any other: the paths the dbt project and the
matcher put into SQL are quoted as string literals, not pasted in."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tessera.cli import app
from tessera.home import TesseraHome
from tessera.warehouse import connect, mart_counts
from tests.dbt.simulated_lake import land_simulated_lake

pytestmark = [pytest.mark.integration, pytest.mark.slow]

runner = CliRunner()


def test_transform_builds_and_publishes_from_a_home_with_a_quote_in_its_path(tmp_path, monkeypatch):
    home = TesseraHome(tmp_path / "o'brien's data")
    monkeypatch.setenv("TESSERA_HOME", str(home.root))
    land_simulated_lake(home, home.root / "sim", customers=100, days=1)

    result = runner.invoke(app, ["transform"])
    assert result.exit_code == 0, result.output
    counts = mart_counts(home)
    with connect(home) as con:
        attributed, customers = con.execute(
            "select count(*), count(distinct customer_id) from marts.customer_xref"
        ).fetchone()
        (first,) = con.execute("select min(customer_id) from marts.golden_customers").fetchone()
    assert counts["golden_customers"] == customers > 50 and counts["customer_xref"] == attributed > customers
    assert f"{counts['golden_customers']:,} golden customers" in " ".join(result.output.split())

    status = runner.invoke(app, ["status"], terminal_width=300)
    assert status.exit_code == 0, status.output
    assert "; published" in status.output
    explained = runner.invoke(app, ["explain", first])
    assert explained.exit_code == 0 and first in explained.output, explained.output
