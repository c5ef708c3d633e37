"""The end-to-end demo on the embedded default: simulate the source systems, then run the DAGs day by day.

Everything lives under `$TESSERA_HOME`; the source systems are the simulator's real HTTP servers,
SQLite database and file drop, reached through Airflow connections set in the environment, so the
DAGs run exactly as they would against real systems.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from connectors.registry import registry
from tessera.connections import connection_env, exported
from tessera.home import TesseraHome

if TYPE_CHECKING:
    from tessera.dbt_runner import NodeProgress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSettings:
    customers: int = 2000
    days: int = 3
    seed: int = 42
    start_date: date = date(2026, 1, 1)
    world: str = "diverse"
    #: Eight months of activity before the start: enough for the predictors to train and backtest their churn
    #: classifier on two 90-day windows.
    history_days: int = 240


def source_connections(home: TesseraHome, crm_url: str, esp_url: str, token: str) -> dict[str, str]:
    """Airflow connections (as environment variables) pointing at the simulated source systems."""
    from urllib.parse import urlsplit

    env: dict[str, str] = {}
    for conn_id, url in (("tessera_crm", crm_url), ("tessera_email", esp_url)):
        parts = urlsplit(url)
        env |= connection_env(conn_id, conn_type="http", host=parts.hostname, port=parts.port, password=token)
    env |= connection_env("tessera_pos", conn_type="sqlite", host=str(home.simulator / "pos.sqlite"))
    env |= connection_env("tessera_web", conn_type="fs", extra={"path": str(home.simulator / "web")})
    return env


@contextmanager
def simulated_sources(home: TesseraHome, settings: DemoSettings) -> Iterator[object]:
    """Initialise the simulator, serve its APIs and export the connections for as long as the block runs."""
    from tessera_simulator import Simulator, SimulatorConfig
    from tessera_simulator.servers import run_servers

    config = SimulatorConfig(
        customers=settings.customers,
        seed=settings.seed,
        start_date=settings.start_date,
        world=settings.world,
        history_days=settings.history_days,
    )
    sim = Simulator(home.simulator, config)
    sim.initialize()
    token = secrets.token_urlsafe(24)
    with run_servers(home.simulator, token=token) as urls:
        with exported(source_connections(home, urls.crm, urls.esp, token)):
            yield sim


def run_demo(
    home: TesseraHome,
    settings: DemoSettings,
    progress: Callable[[str], None] = log.info,
    dbt_progress: Callable[[NodeProgress], None] | None = None,
) -> list[str]:
    """Run the demo; returns where to look at what the activation delivered. `progress` hears of each step,
    `dbt_progress` of each dbt node of the transform DAG's build as it starts and finishes."""
    from tessera.airflow_local import configure, migrate_metadata_db, run_dag
    from tessera.dbt_runner import dbt_progress_to, parse_project
    from tessera.orchestration import activation_dags
    from tessera_simulator.destinations.demo import demo_destinations

    configure(home)
    os.environ.setdefault("DBT_QUIET", "true")  # the demo prints its own summary; task logs keep dbt's
    progress("preparing the Airflow metadata database and the dbt manifest")
    migrate_metadata_db()
    parse_project(home)
    with simulated_sources(home, settings) as sim, demo_destinations(home) as destinations:
        for _ in range(settings.days):
            sim.advance(days=1)
            progress(f"source systems advanced to {sim.clock:%Y-%m-%d %H:%M} UTC; running the extract DAGs")
            for source in registry().sources.values():
                run_dag(source.dag_id, sim.clock)
        progress("every stream has landed: running the transform DAG (dbt via Cosmos)")
        with dbt_progress_to(dbt_progress):  # the DAG's dbt build runs in this process (`dag.test()`)
            run_dag("tessera_transform", sim.clock)
        for dag_id in activation_dags():
            progress(f"the marts passed their checks and are published: running {dag_id}")
            run_dag(dag_id, sim.clock)
        contents = destinations.write_contents()
    return [
        f"files dropped for marketers: {destinations.folder / 'exports'}",
        f"e-mails to marketers (.eml): {destinations.outbox}",
        *(f"what {name} holds: {path}" for name, path in contents.items()),
    ]


def identity_accuracy(home: TesseraHome) -> str:
    """The demo knows the truth: how well the golden customers match the simulated people, over all
    records and over the records a person can be recognised by at all."""
    import pyarrow.parquet as pq

    from tessera.warehouse import connect
    from tessera_simulator.identity_accuracy import linkable_records, pairwise_scores

    with connect(home) as con:
        xref = con.sql("select * from marts.customer_xref").to_arrow_table()
        linkable = linkable_records(con)
    truth = pq.read_table(home.simulator / "ground_truth.parquet")
    everything, within_reach = pairwise_scores(xref, truth), pairwise_scores(xref, truth, scope=linkable)
    return (
        f"{everything.summary()}; over linkable records (not cash sales, receipts with only the store's address, or anonymous browsing): "
        f"precision {within_reach.precision:.4f}, recall {within_reach.recall:.4f}"
    )
