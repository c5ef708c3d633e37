"""On the simulator, whose customers really leave (an exponential lifetime per person, its rate gamma across
people, e-mail and web interest fading before): eleven months of the simulated systems extracted through the
connectors and built by the default transform, which trains the predictors first. Its own backtest must rank
churners (AUC ≥ 0.80) and forecast the orders of the 90-day window within 10 %."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from connectors.registry import registry
from tessera.dbt_runner import run_transform
from tessera.gates import check_pending_batches
from tessera.home import TesseraHome
from tests.sources import TOKEN, Sources, extract_all
from transforms.predict.predictors import PredictorStore

# The world is eleven months of simulated days, extracted and built: minutes, more than the default timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

CUSTOMERS, SEED, START, DAYS = 3000, 7, date(2025, 1, 1), 330


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> TesseraHome:
    from tessera_simulator import Simulator, SimulatorConfig
    from tessera_simulator.servers import run_servers

    home = TesseraHome(tmp_path_factory.mktemp("churn") / "home")
    sim = Simulator(home.simulator, SimulatorConfig(customers=CUSTOMERS, seed=SEED, start_date=START))
    sim.initialize()
    sim.advance(days=DAYS)
    with run_servers(home.simulator, token=TOKEN) as urls:
        sources = Sources(sim, urls.crm, urls.esp)
        for source in registry().sources:
            extract_all(sources, source, home, None, sim.clock)
    check_pending_batches(home)
    run_transform(home)
    return home


def test_the_build_trained_the_classifier_and_its_backtest_ranks_churners(built):
    (report,) = PredictorStore(built.predictions).reports()
    assert report["churn_source"] == "classifier" and report["notes"] == []
    churn = report["churn_backtest"]
    assert churn["customers"] > 1000 and 0.2 < churn["churn_rate"] < 0.8
    assert churn["auc"] >= 0.80, churn["auc"]
    assert churn["brier"] < churn["brier_of_base_rate"]
    gaps = [abs(row["mean_predicted"] - row["observed_rate"]) for row in churn["calibration"]]
    assert sum(gaps) / len(gaps) < 0.06  # calibrated, on buyers it never saw


def test_the_forecast_orders_agree_with_the_actual_within_ten_percent(built):
    (report,) = PredictorStore(built.predictions).reports()
    forecast, baseline = report["purchase_backtests"]["pareto_nbd"], report["purchase_backtests"]["bg_nbd"]
    assert abs(forecast["relative_error"]) <= 0.10, forecast["relative_error"]
    assert forecast["mae"] <= baseline["mae"]  # and per customer at least as close as plain BG/NBD


def test_the_predicted_traits_reach_the_golden_table_and_the_segment(built):
    with duckdb.connect(str(built.root / "published" / "warehouse.duckdb"), read_only=True) as con:
        scored, traits, at_risk, risky = con.execute(
            """
            select
                (select count(*) from marts.customer_predictions),
                (select count(*) from marts.golden_customers where churn_risk is not null),
                (select count(*) from segments.high_value_at_risk),
                (select count(*) from marts.golden_customers
                 where churn_risk in ('medium', 'high') and lifetime_value >= 100)
            """
        ).fetchone()
    assert scored > 1000 and traits == scored
    assert at_risk == risky > 0
