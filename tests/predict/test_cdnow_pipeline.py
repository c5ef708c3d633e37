"""The paper's table through the whole pipeline: the CDNOW sample landed as loyalty members and receipts,
built by dbt (staging, identity resolution, int_customer_purchase_features), and BG/NBD fitted on the
features reproduces Fader, Hardie & Lee (2005). The features also equal the RFM summary that
transforms/predict/rfm.py computes from the raw file, customer by customer."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from tessera.dbt_runner import PRODUCTION_BUILD_FLAGS, run_dbt, run_transform
from tessera.home import TesseraHome
from tessera.predictions.training import train_from_warehouse
from tessera.warehouse_load import load_lake
from tests.dbt.postgres_target import connect, postgres_target
from tests.predict.cdnow_lake import land_cdnow
from tests.sources import throwaway_postgres_database
from transforms.identity.matching import FittedModels
from transforms.predict.btyd import fit_purchases
from transforms.predict.cdnow import CALIBRATION_END
from transforms.predict.predictors import PredictorStore
from transforms.predict.rfm import holdout_purchases, rfm_summary

pytestmark = pytest.mark.integration

PAPER_BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}

#: The end of the paper's calibration period, as the `as_of` var: the whole of its last day counts.
CALIBRATION_AS_OF = f"{CALIBRATION_END} 23:59:59"

FEATURES_SQL = """
    select xref.record_id as loyalty_id, features.*
    from intermediate.int_customer_purchase_features as features
    inner join marts.customer_xref as xref
        on xref.customer_id = features.customer_id and xref.source = 'pos' and xref.stream = 'loyalty_members'
    order by loyalty_id
"""


def _features(home: TesseraHome) -> pd.DataFrame:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(FEATURES_SQL).df().set_index("loyalty_id")


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory) -> dict:
    """The sample landed and built as of the calibration end, then the features rebuilt with the default
    `as_of` (the latest landed event)."""
    home = TesseraHome(tmp_path_factory.mktemp("cdnow") / "home")
    transactions = land_cdnow(home.lake)
    build = ["build", *PRODUCTION_BUILD_FLAGS]
    run_dbt([*build, "--vars", json.dumps({"as_of": CALIBRATION_AS_OF})], home)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        xref = con.execute("select source, stream, record_id, customer_id from marts.customer_xref").df()
    calibration = _features(home)
    run_dbt([*build, "--select", "int_customer_purchase_features"], home)
    return {
        "home": home,
        "transactions": transactions,
        "xref": xref,
        "calibration": calibration,
        "latest": _features(home),
    }


def _summary(transactions: pd.DataFrame, cutoff: str) -> pd.DataFrame:
    return rfm_summary(transactions, cutoff, unit="days", customer="loyalty_id", timestamp="occurred_at",
                       amount="total_amount")  # fmt: skip


def test_each_cdnow_customer_is_one_customer(cdnow):
    xref = cdnow["xref"]
    members = xref[xref["stream"] == "loyalty_members"].set_index("record_id")["customer_id"]
    assert len(members) == 2357 and members.is_unique  # no two cards merged
    receipts = xref[xref["stream"] == "transactions"].set_index("record_id")["customer_id"]
    card_of_receipt = cdnow["transactions"].set_index("transaction_id")["loyalty_id"]
    assert len(receipts) == len(card_of_receipt) == 6919
    assert (receipts.reindex(card_of_receipt.index) == members.reindex(card_of_receipt).to_numpy()).all()


@pytest.mark.parametrize(("built", "cutoff"), [("calibration", CALIBRATION_END), ("latest", "1998-06-30")])
def test_features_equal_the_rfm_summary_customer_by_customer(cdnow, built, cutoff):
    features = cdnow[built]
    assert str(features["as_of"].max())[:10] == cutoff and features["as_of"].nunique() == 1
    expected = _summary(cdnow["transactions"], cutoff)
    buyers = features[features["purchase_days"] > 0]
    assert buyers.index.sort_values().equals(expected.index.sort_values())
    buyers = buyers.loc[expected.index]
    assert (buyers["frequency"].to_numpy() == expected["frequency"].to_numpy()).all()
    assert (buyers["recency_days"].to_numpy() == expected["recency"].to_numpy()).all()
    assert (buyers["t_days"].to_numpy() == expected["T"].to_numpy()).all()
    np.testing.assert_allclose(buyers["monetary_value"].astype(float), expected["monetary_value"], atol=1e-6)
    known = cdnow["transactions"][cdnow["transactions"]["occurred_at"] <= pd.Timestamp(cutoff, tz="UTC")]
    spend = known.groupby("loyalty_id")["total_amount"].sum().astype(float)
    np.testing.assert_allclose(buyers["total_spend"].astype(float), spend.loc[expected.index], atol=1e-6)


def test_purchases_after_as_of_are_left_out(cdnow):
    calibration, latest = cdnow["calibration"], cdnow["latest"]
    # every CDNOW customer bought first in 1997-Q1, so all are buyers by both dates
    assert (calibration["purchase_days"] > 0).all() and (latest["purchase_days"] > 0).all()
    assert int(calibration["frequency"].gt(0).sum()) == 946  # the paper's repeat customers
    assert calibration["purchase_days"].sum() == 4814 < latest["purchase_days"].sum()
    assert (
        latest["t_days"] - calibration["t_days"] == (pd.Timestamp("1998-06-30") - pd.Timestamp(CALIBRATION_END)).days
    ).all()


def test_bg_nbd_on_the_pipelines_features_reproduces_the_papers_table(cdnow):
    features = cdnow["calibration"]
    in_weeks = pd.DataFrame(
        {
            "frequency": features["frequency"].astype("int64"),
            "recency": features["recency_days"] / 7,
            "T": features["t_days"] / 7,
            "monetary_value": features["monetary_value"].astype(float),
        }
    )
    model = fit_purchases(in_weeks, CALIBRATION_END, unit="weeks", kind="bg_nbd")
    for name, published in PAPER_BG_NBD.items():
        assert model.params[name] == pytest.approx(published, rel=0.02), name


@pytest.mark.slow
def test_postgres_computes_the_same_features(cdnow):
    """The model is portable SQL: on PostgreSQL (where identity resolution runs without the matcher) the same
    lake gives every customer the same features, with the same ids."""
    home = cdnow["home"]
    as_of = json.dumps({"as_of": CALIBRATION_AS_OF})
    with throwaway_postgres_database() as url, postgres_target(url) as env:
        load_lake(home)
        run_dbt(["build", *PRODUCTION_BUILD_FLAGS, "--select", "+int_customer_purchase_features", "--vars", as_of],
                home, target="postgres")  # fmt: skip
        with connect(env) as con, con.cursor() as cur:
            cur.execute("select * from intermediate.int_customer_purchase_features")
            on_postgres = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    on_duckdb = cdnow["calibration"].set_index("customer_id").sort_index()
    on_postgres = on_postgres.set_index("customer_id").loc[on_duckdb.index]
    for column in ("purchase_days", "frequency", "recency_days", "t_days", "tenure_days", "source_count"):
        assert (on_postgres[column].astype("int64") == on_duckdb[column].astype("int64")).all(), column
    for column in ("monetary_value", "total_spend"):
        np.testing.assert_allclose(on_postgres[column].astype(float), on_duckdb[column].astype(float), atol=1e-6)


@pytest.mark.slow
def test_the_default_transform_builds_card_only_members(tmp_path):
    home = TesseraHome(tmp_path / "home")
    land_cdnow(home.lake)
    run_transform(home)  # the matcher cannot be fitted without names: it scores with the shipped model, sized
    assert len(_features(home)) == 2357
    (fit,) = FittedModels(home.root / "matcher").history()
    assert fit["method"] == "sized" and any("no training rule found pairs" in r for r in fit["reasons"])


# Predictions: the first build found no predictors and trained them; later builds only score.

BACKTEST_CUTOFF = "1997-07-02"  # one 90-day window before the calibration end


def _predictions(home: TesseraHome) -> pd.DataFrame:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute("select * from marts.customer_predictions").df()


def test_the_first_build_trained_the_predictors_and_said_so(cdnow):
    home = cdnow["home"]
    (version,) = PredictorStore(home.root / "predictions").history()
    assert (version["version"], version["as_of"]) == ("v0001", CALIBRATION_END)
    assert "training the predictors first" in (home.root / "logs" / "dbt" / "dbt.log").read_text()
    # On 2,357 buyers the classifier's backtest Brier score (0.124) does not beat the purchase model's own churn
    # probability (0.122), so the purchase model answers churn and no classifier is kept.
    assert version["churn_source"] == "purchase_model"
    assert any("is no better than" in note for note in version["notes"])
    folder = home.root / "predictions" / "versions" / "v0001"
    assert sorted(p.name for p in folder.iterdir()) == ["backtest.json", "purchases.json", "spend.json"]


def test_the_purchase_backtest_counts_what_was_bought_in_the_window(cdnow):
    (report,) = PredictorStore(cdnow["home"].root / "predictions").reports()
    buyers_then = _summary(cdnow["transactions"], BACKTEST_CUTOFF).index
    actual = holdout_purchases(cdnow["transactions"], BACKTEST_CUTOFF, 90, unit="days", customer="loyalty_id",
                               timestamp="occurred_at", customers=buyers_then)  # fmt: skip
    for kind in ("pareto_nbd", "bg_nbd"):
        result = report["purchase_backtests"][kind]
        assert (result["customers"], result["actual_total"]) == (len(buyers_then), int(actual.sum()))
        assert abs(result["relative_error"]) < 0.25, kind
    churn = report["churn_backtest"]
    assert churn["scored_as_of"] == BACKTEST_CUTOFF and churn["auc"] > 0.7
    assert churn["brier"] < churn["brier_of_base_rate"]


def test_every_buyer_is_scored_with_the_trained_version(cdnow):
    predictions = _predictions(cdnow["home"])
    assert len(predictions) == 2357 and set(predictions["model_version"]) == {"v0001"}
    assert predictions["p_alive"].between(0, 1).all()
    assert (predictions["expected_orders_365d"] >= predictions["expected_orders_90d"]).all()
    assert set(predictions["churn_risk"]) <= {"low", "medium", "high"}
    # churn risk and the purchase forecast agree in direction: the likely churners expect fewer orders
    by_band = predictions.groupby("churn_risk")["expected_orders_90d"].mean()
    assert by_band["low"] > by_band["high"]


def test_training_keeps_a_new_version_and_builds_score_with_it_without_training(cdnow):
    home = cdnow["home"]
    predictors, report = train_from_warehouse(home)  # as `tessera train-predictors` does
    assert predictors.version == "v0002" and report.as_of == "1998-06-30"
    run_dbt(["build", *PRODUCTION_BUILD_FLAGS, "--select", "customer_predictions", "model_backtests"], home)
    assert set(_predictions(home)["model_version"]) == {"v0002"}
    assert len(PredictorStore(home.root / "predictions").history()) == 2  # the build trained nothing
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        versions = con.execute("select distinct model_version from marts.model_backtests order by 1").fetchall()
    assert versions == [("v0001",), ("v0002",)]
