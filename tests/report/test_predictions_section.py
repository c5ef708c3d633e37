"""The report's predictions section, from a published warehouse holding `marts.customer_predictions` and
`marts.model_backtests` as the build writes them (the backtest rows made by the same functions the build
uses, from seeded forecasts): the headline figures, the three charts, and a line for each part that has no
data yet."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from tessera.home import TesseraHome
from tessera.publication import published_path
from tessera.report import write_report
from tessera.report.gather import Missing, PredictionScores, gather_report, prediction_facts
from tests.report.test_report_partial import missing_notes
from transforms.predict.backtest import backtest
from transforms.predict.churn import evaluate
from transforms.predict.predictors import backtest_rows, no_predictions

pytestmark = pytest.mark.unit

BUYERS = 200
SCORED_AT = datetime(2026, 3, 31, tzinfo=UTC)
NO_PURCHASE_BACKTEST = "no purchase backtest: the history holds no buyer 90 days before 2026-01-01"
FROM_PURCHASE_MODEL = (
    "churn probability from the purchase model, not the classifier: only one labelled moment "
    "(a classifier and its backtest need two labelled windows of 90 days)"
)


def customer_predictions(version: str, buyers: int = BUYERS) -> pd.DataFrame:
    """Scored buyers as `transforms.predict.predictors.score` returns them, from a seeded generator."""
    rng = np.random.default_rng(7)
    churn = rng.uniform(0, 1, buyers).round(6)
    orders_90 = rng.gamma(1.5, 0.4, buyers).round(6)
    return pd.DataFrame(
        {
            "customer_id": pd.Series([f"cus_{i:05d}" for i in range(buyers)], dtype="string"),
            "as_of": pd.Series([SCORED_AT] * buyers, dtype="datetime64[us, UTC]"),
            "p_alive": (1 - churn / 2).round(6),
            "expected_orders_90d": orders_90,
            "expected_orders_365d": (orders_90 * 3.6).round(6),
            "predicted_clv_365d": (orders_90 * 3.6 * 42.5).round(6),
            "churn_probability_90d": churn,
            "churn_risk": pd.Series(
                np.where(churn >= 0.75, "high", np.where(churn >= 0.5, "medium", "low")), dtype="string"
            ),
            "model_version": version,
        }
    )


def purchase_backtest(seed: int, bias: float) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    predicted = pd.Series(rng.gamma(1.2, 0.5, 150) * bias, index=[f"c{i}" for i in range(150)])
    actual = pd.Series(rng.poisson(predicted.to_numpy() / bias), index=predicted.index)
    return backtest(predicted, actual).to_dict()


def churn_backtest(seed: int, scored_as_of: str) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    probability = rng.uniform(0, 1, 150)
    labels = (rng.uniform(0, 1, 150) < probability).astype("int64")
    return evaluate(probability, labels, 0.45, ("2025-10-01",), scored_as_of).to_dict()


def report(version: str, as_of: str, purchases: dict[str, Any], churn: dict[str, Any] | None, source: str):
    """A version's `backtest.json`, as `PredictorStore.save` writes it."""
    return {
        "version": version,
        "as_of": as_of,
        "trained_at": f"{as_of}T06:00:00+00:00",
        "customers": 260,
        "buyers": BUYERS,
        "purchase_backtests": purchases,
        "churn_backtest": churn,
        "churn_source": source,
        "notes": [],
    }


#: v0001 too young for any backtest; v0002 with both purchase models and the purchase model's churn;
#: v0003 with both purchase models and the classifier.
REPORTS = [
    report("v0001", "2026-01-01", {}, None, "purchase_model"),
    report(
        "v0002",
        "2026-02-01",
        {"pareto_nbd": purchase_backtest(1, 1.3), "bg_nbd": purchase_backtest(1, 1.6)},
        churn_backtest(2, "2026-01-01"),
        "purchase_model",
    ),
    report(
        "v0003",
        "2026-03-01",
        {"pareto_nbd": purchase_backtest(3, 1.1), "bg_nbd": purchase_backtest(3, 1.4)},
        churn_backtest(4, "2026-02-01"),
        "classifier",
    ),
]


def publish(home: TesseraHome, predictions: pd.DataFrame | None, backtests: pd.DataFrame | None) -> None:
    """A published warehouse holding the prediction marts given (None: the table is absent)."""
    path = published_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        for name, frame in (("customer_predictions", predictions), ("model_backtests", backtests)):
            if frame is not None:
                con.register("frame", frame)
                con.execute(f"create table marts.{name} as select * from frame")  # as dbt-duckdb materialises it
                con.unregister("frame")
    finally:
        con.close()


def make_current(home: TesseraHome, version: str, notes: list[str]) -> None:
    folder = home.predictions
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"version": version, "folder": f"versions/{version}", "as_of": "2026-03-01", "notes": notes}
    (folder / "current.json").write_text(json.dumps(entry, indent=2) + "\n")


def section_of(html: str) -> str:
    return re.search(r'<section id="predictions">(.*?)</section>', html, flags=re.S)[1]


@pytest.fixture
def three_versions(home) -> TesseraHome:
    publish(home, customer_predictions("v0003"), backtest_rows(REPORTS))
    make_current(home, "v0003", [])
    return home


def test_the_current_version_scores_and_backtests_are_gathered(three_versions):
    facts = gather_report(three_versions).predictions
    scored = customer_predictions("v0003")

    assert facts.version == "v0003" and facts.trained_as_of == "2026-03-01" and facts.notes == []
    assert facts.scores == PredictionScores(
        versions=["v0003"],
        as_of=SCORED_AT,
        buyers=BUYERS,
        risk_bands={band: int((scored["churn_risk"] == band).sum()) for band in ("low", "medium", "high")},
        expected_orders_90d=pytest.approx(float(scored["expected_orders_90d"].sum())),
        predicted_clv_365d=pytest.approx(float(scored["predicted_clv_365d"].sum())),
    )
    assert sum(facts.scores.risk_bands.values()) == BUYERS and min(facts.scores.risk_bands.values()) > 0

    forecast, baseline = facts.purchases
    for gathered, model in ((forecast, "pareto_nbd"), (baseline, "bg_nbd")):
        kept = REPORTS[2]["purchase_backtests"][model]
        assert gathered.model == model
        assert gathered.predicted_total == pytest.approx(kept["predicted_total"])
        assert gathered.actual_total == kept["actual_total"]
        assert gathered.relative_error == pytest.approx(kept["relative_error"])
        assert gathered.mae == pytest.approx(kept["mae"])
        assert gathered.deciles == [
            (row["decile"], pytest.approx(row["predicted"]), row["actual"]) for row in kept["deciles"]
        ]
        assert [d for d, _, _ in gathered.deciles] == list(range(1, 11))

    kept_churn = REPORTS[2]["churn_backtest"]
    assert facts.churn.model == "churn_classifier"
    assert facts.churn.scored_as_of == "2026-02-01"
    assert facts.churn.auc == pytest.approx(kept_churn["auc"])
    assert facts.churn.brier == pytest.approx(kept_churn["brier"])
    assert facts.churn.brier_of_base_rate == pytest.approx(kept_churn["brier_of_base_rate"])
    assert facts.churn.calibration == [
        (row["group"], pytest.approx(row["mean_predicted"]), pytest.approx(row["observed_rate"]))
        for row in kept_churn["calibration"]
    ]

    # v0001 kept no backtest, so it has no row and no point
    assert [(v.version, v.churn_model, v.purchase_model) for v in facts.versions] == [
        ("v0002", "churn_from_purchase_model", "pareto_nbd"),
        ("v0003", "churn_classifier", "pareto_nbd"),
    ]
    assert facts.versions[0].auc == pytest.approx(REPORTS[1]["churn_backtest"]["auc"])
    assert facts.versions[0].relative_error == pytest.approx(
        REPORTS[1]["purchase_backtests"]["pareto_nbd"]["relative_error"]
    )
    assert facts.versions[0].as_of == "2026-02-01"


def test_the_page_shows_the_figures_and_three_charts(three_versions):
    html = write_report(three_versions).read_text()
    body = section_of(html)
    facts = gather_report(three_versions).predictions

    assert missing_notes(html, "predictions") == []
    assert body.count('<svg role="img" class="chart"') == 3
    assert "Predicted vs actual orders" in body and "Churn calibration" in body and "across versions" in body
    forecast = facts.purchases[0]
    assert f"relative error {forecast.relative_error:+.1%}" in body
    assert f"AUC {facts.churn.auc:.3f}" in body and f"Brier {facts.churn.brier:.3f}" in body
    assert f"predicting the base rate: {facts.churn.brier_of_base_rate:.3f}" in body
    assert ">pareto_nbd: predicted<" in body and ">bg_nbd (baseline): actual<" in body  # legend, as text
    assert ">perfectly calibrated<" in body
    assert ">v0002<" in body and ">v0003<" in body  # the trend's axis
    for label, value in (("buyers scored", f"{BUYERS:,}"), ("version", "v0003")):
        assert f'<span class="value">{value}</span><span class="label">{label}</span>' in body
    high = facts.scores.risk_bands["high"]
    assert f'<span class="value">{high:,}</span><span class="label">high churn risk</span>' in body
    assert "cus_" not in html  # aggregates only
    assert html.index('id="growth"') < html.index('id="predictions"') < html.index('id="activation"')


def test_a_young_home_says_each_part_is_not_available_yet(home):
    publish(home, no_predictions(), backtest_rows([REPORTS[0]]))  # scored nobody; kept no backtest
    make_current(home, "v0001", [NO_PURCHASE_BACKTEST, FROM_PURCHASE_MODEL])

    facts = gather_report(home).predictions
    html = write_report(home).read_text()

    assert facts.version == "v0001" and facts.notes == [NO_PURCHASE_BACKTEST, FROM_PURCHASE_MODEL]
    assert isinstance(facts.scores, Missing) and "customer_predictions is empty" in facts.scores.reason
    for part in (facts.purchases, facts.churn):
        assert isinstance(part, Missing) and "v0001 has no" in part.reason
    assert facts.versions == Missing("no version has a backtest yet")
    notes = missing_notes(html, "predictions")
    assert len(notes) == 4 and all(note.startswith("not available yet: ") for note in notes)
    assert "<svg" not in section_of(html)
    assert f"<li>{NO_PURCHASE_BACKTEST}</li>" in section_of(html)


def test_a_single_version_with_a_purchase_backtest_only_draws_the_deciles(home):
    only = report("v0001", "2026-02-01", {"pareto_nbd": purchase_backtest(5, 1.2)}, None, "purchase_model")
    publish(home, customer_predictions("v0001", 40), backtest_rows([only]))

    facts = gather_report(home).predictions  # no current.json: the version that scored the rows
    html = write_report(home).read_text()

    assert facts.version == "v0001" and facts.trained_as_of == "2026-02-01"
    assert [p.model for p in facts.purchases] == ["pareto_nbd"]
    assert isinstance(facts.churn, Missing)
    assert [v.version for v in facts.versions] == ["v0001"] and facts.versions[0].auc is None
    assert section_of(html).count("<svg") == 1
    assert missing_notes(html, "predictions") == [
        "not available yet: version v0001 has no churn backtest (its history holds no window to hold out)",
        "not available yet: one version so far (v0001): the trend across versions needs two",
    ]


def test_a_version_trained_since_the_build_is_noted(home):
    publish(home, customer_predictions("v0003"), backtest_rows(REPORTS))
    make_current(home, "v0004", [])

    facts = gather_report(home).predictions

    assert facts.version == "v0004"
    assert facts.notes == [
        "v0004 is trained but has not scored yet: the published predictions are v0003's, and the next build "
        "scores with v0004"
    ]
    assert facts.scores.versions == ["v0003"]
    assert isinstance(facts.purchases, Missing) and "v0004 has no purchase backtest" in facts.purchases.reason


def test_an_older_warehouse_without_prediction_tables_says_so(home):
    publish(home, None, None)
    con = duckdb.connect(str(published_path(home)), read_only=True)
    try:
        facts = prediction_facts(home, con)
    finally:
        con.close()

    assert facts.version is None
    assert "has no marts.customer_predictions" in facts.scores.reason
    assert all("has no marts.model_backtests" in p.reason for p in (facts.purchases, facts.churn, facts.versions))
    notes = missing_notes(write_report(home).read_text(), "predictions")
    assert len(notes) == 4 and all(note.startswith("not available yet: ") for note in notes)


def test_a_home_without_a_warehouse_says_the_section_is_not_available_yet(home):
    notes = missing_notes(write_report(home).read_text(), "predictions")

    assert len(notes) == 1 and notes[0].startswith("not available yet: no published warehouse at")
