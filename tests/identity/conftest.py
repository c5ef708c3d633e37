"""One simulated world, extracted and unified once for the identity tests of this folder."""

from __future__ import annotations

import pytest

from tessera.home import TesseraHome
from tests.sources import running_sources, simulated_days


@pytest.fixture(scope="session")
def unified(tmp_path_factory) -> TesseraHome:
    """1,500 simulated people over three days, landed by the connectors and built by dbt: built once per
    session (once per xdist worker that runs a module reading it)."""
    from tessera.dbt_runner import run_transform

    home = TesseraHome(tmp_path_factory.mktemp("unified"))
    with running_sources(home.simulator, customers=1500, seed=11) as sources:
        for _ in simulated_days(sources, home, 3):
            pass
    run_transform(home)
    return home
