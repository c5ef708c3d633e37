"""`tessera train-predictors` and the weekly training DAG: fit the predictors on the warehouse's feature tables
and keep them as the next version under `$TESSERA_HOME/predictions/`.

Training reads `int_customer_purchase_features` and `int_customer_feature_history`, which every build makes
(run `tessera transform` first). The daily build only scores, with the current version; a new version is
scored by the next build.
"""

from __future__ import annotations

from tessera.home import TesseraHome
from transforms.predict.predictors import Predictors, PredictorStore, TrainingReport, train_and_save

FEATURE_TABLES = ("int_customer_purchase_features", "int_customer_feature_history")


def train_from_warehouse(home: TesseraHome) -> tuple[Predictors, TrainingReport]:
    """Fit and backtest the predictors on this home's working warehouse, and make them the current version."""
    from tessera.audit import record_event
    from tessera.warehouse import connect_working

    with connect_working(home) as con:
        present = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'intermediate'"
            ).fetchall()
        }
        missing = [name for name in FEATURE_TABLES if name not in present]
        if missing:
            raise FileNotFoundError(
                f"the warehouse {home.warehouse} has no table intermediate.{missing[0]}: run `tessera transform` first"
            )
        current = con.sql("select * from intermediate.int_customer_purchase_features").df()
        history = con.sql("select * from intermediate.int_customer_feature_history").df()
    predictors, report = train_and_save(PredictorStore(home.predictions), current, history)
    record_event(
        home,
        "training",
        model="predictors",
        version=predictors.version,
        as_of=report.as_of,
        buyers=report.buyers,
        churn_source=report.churn_source,
    )
    return predictors, report


def describe(predictors: Predictors, report: TrainingReport) -> list[str]:
    """Lines a person reads after training: what was kept and how it backtested."""
    lines = [f"predictors {predictors.version} trained as of {report.as_of} on {report.buyers:,} buyers"]
    for kind, result in report.purchase_backtests.items():
        error = "n/a" if result.relative_error is None else f"{100 * result.relative_error:+.1f} %"
        lines.append(
            f"  {kind}: next 90 days, predicted {result.predicted_total:,.0f} orders vs {result.actual_total:,} "
            f"actual ({error}), per-customer MAE {result.mae:.3f}"
        )
    churn = report.churn_backtest
    if churn is not None:
        lines.append(
            f"  churn ({report.churn_source.replace('_', ' ')}): AUC {churn.auc:.3f}, Brier {churn.brier:.3f} "
            f"(base rate alone {churn.brier_of_base_rate:.3f}) on {churn.customers:,} buyers as of {churn.scored_as_of}"
        )
    lines += [f"  note: {note}" for note in report.notes]
    return lines
