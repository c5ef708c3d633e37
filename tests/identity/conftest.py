"""One simulated world, extracted and unified once for the identity tests of this folder."""

from __future__ import annotations

import pytest

from tessera.home import TesseraHome
from tests.sources import extract_all, running_sources


@pytest.fixture(scope="module")
def unified(tmp_path_factory) -> TesseraHome:
    """1,500 simulated people over three days, landed by the connectors and built by dbt."""
    from tessera.transform import run_transform

    home = TesseraHome(tmp_path_factory.mktemp("unified"))
    with running_sources(home.simulator, customers=1500, seed=11) as sources:
        sim, start = sources.sim, None
        for _ in range(3):
            sim.advance(days=1)
            for source in ("crm", "email", "pos", "web"):
                extract_all(sources, source, home, start, sim.clock)
            start = sim.clock
    run_transform(home)
    return home
