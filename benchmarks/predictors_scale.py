"""The predictors at scale: building their feature tables, training and scoring at 100,000 and 1,000,000 customers.

`python -m benchmarks.predictors_scale` draws a customer base from a known buy-till-you-die process (seeded):

- each customer first buys on a day spread evenly over the `HISTORY_DAYS` before "now", then buys as a Poisson
  process whose rate is gamma distributed across customers, until an exponential lifetime whose dropout rate is
  gamma distributed too (the Pareto/NBD's own assumptions, so its fit should find the parameters back);
- each receipt's amount is gamma distributed around the customer's own mean spend, itself gamma distributed
  (Gamma-Gamma's assumptions);
- subscribers open and click e-mails, and visitors start web sessions, from up to 30 days before the first
  purchase, at rates that fall to a fraction once the customer has left: what the churn classifier can see.

It writes that base straight into a DuckDB file as `intermediate.int_customer_activity` and
`intermediate.int_customer_records` (the columns and types the warehouse's models have), in chunks of customers,
so memory stays bounded. Then, in a scratch `$TESSERA_HOME` whose warehouse is that file, each step runs in a child
process of its own, through the project's own code:

1. the feature tables: `dbt build --select int_customer_purchase_features int_customer_feature_history` with
   `--vars {as_of: ...}` ("now" as a var: the base has no staging tables for `segment_as_of` to read), their data
   and unit tests included;
2. the read baseline: `int_customer_purchase_features` into pandas, the floor any Python scoring pays;
3. training: `tessera.predictions.training.train_from_warehouse`, split into its parts (reading the tables, the
   Pareto/NBD fit, its backtest with plain BG/NBD, the Gamma-Gamma fit, the churn classifier's backtest and fit,
   saving the version);
4. scoring: `dbt run --select customer_predictions`, which loads the version just saved and scores every buyer.

Each child reports its own peak memory (`ru_maxrss`; dbt, DuckDB and the models all run in it). The backtests
the training reports, and the fitted parameters beside the true ones, show the models learn the process.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness.children import run_child
from benchmarks.harness.probes import peak_memory_mb
from benchmarks.harness.scales import ScaleBenchmark
from benchmarks.harness.tables import Table, ratio, ratio_cell, share_cell, text_table

log = logging.getLogger("benchmarks.predictors_scale")

DEFAULT_SCALES = (100_000, 1_000_000)
#: "Now": the end of the simulated history, given to the build as its `as_of` var.
NOW = "2026-06-30 23:59:59"
#: First purchases are spread over the days before "now".
HISTORY_DAYS = 400
#: Customers drawn at a time: bounds the generator's memory (about 16 activity rows a customer).
CHUNK_CUSTOMERS = 100_000
FEATURE_MODELS = ("int_customer_purchase_features", "int_customer_feature_history")
ACTIVITIES = ("purchase", "email_open", "email_click", "web_session")


@dataclass(frozen=True)
class Process:
    """The known process the customer base is drawn from; rates are per day.

    Purchases: rate λ ~ Gamma(r, rate α), dropout μ ~ Gamma(s, rate β) (the Pareto/NBD's parameters);
    spend per receipt ~ Gamma(p, rate ν) with ν ~ Gamma(q, rate v) (Gamma-Gamma's)."""

    r: float = 0.75
    alpha: float = 30.0
    s: float = 0.8
    beta: float = 200.0
    p: float = 6.0
    q: float = 3.5
    v: float = 15.0
    subscriber_share: float = 0.8
    visitor_share: float = 0.6
    crm_share: float = 0.7
    loyalty_share: float = 0.5
    #: Mean e-mail opens a day while the customer is active; clicks are a quarter of the opens.
    open_rate: float = 0.06
    click_share: float = 0.25
    #: Mean web sessions a day while active.
    session_rate: float = 0.04
    #: Engagement once the customer has left, as a share of its rate before.
    after_leaving: float = 0.12
    #: Engagement starts up to this many days before the first purchase.
    signup_lead_days: float = 30.0


PROCESS = Process()

ACTIVITY_DDL = """
create table intermediate.int_customer_activity (
    customer_id varchar, activity varchar, occurred_at timestamp with time zone, amount decimal(28, 6),
    session_key varchar
)"""
RECORDS_DDL = """
create table intermediate.int_customer_records (
    record_key varchar, source varchar, stream varchar, record_id varchar, customer_key varchar, customer_id varchar
)"""
#: The customer id of the customer numbered `idx` (the same id at every scale for the same number).
CUSTOMER_ID = "format('cus_{:016x}', hash(idx))"


# The customer base: drawn in a child process ------------------------------------------------------------------


def _draw_chunk(rng, start: int, count: int, process: Process):
    """One chunk of customers: their activity (one row per event) and their flags, as Arrow tables."""
    import numpy as np
    import pyarrow as pa

    idx = np.arange(start, start + count, dtype=np.int64)
    first = rng.uniform(0.0, HISTORY_DAYS, count)  # days since the start of the history
    rate = rng.gamma(process.r, 1.0 / process.alpha, count)
    dropout = rng.gamma(process.s, 1.0 / process.beta, count)
    left = first + rng.exponential(1.0 / dropout)
    active_end = np.minimum(left, HISTORY_DAYS)
    mean_spend = process.p / rng.gamma(process.q, 1.0 / process.v, count)  # p / ν: the customer's mean receipt
    subscriber = rng.random(count) < process.subscriber_share
    visitor = rng.random(count) < process.visitor_share
    signup = first - rng.uniform(0.0, process.signup_lead_days, count)
    opens = rng.gamma(2.0, process.open_rate / 2.0, count) * subscriber
    sessions = rng.gamma(1.5, process.session_rate / 1.5, count) * visitor

    customers, days, kinds = [], [], []

    def events(kind: int, begin, end, per_day) -> None:
        length = np.clip(end - begin, 0.0, None)
        n = rng.poisson(per_day * length)
        owner = np.repeat(np.arange(count), n)
        customers.append(owner)
        days.append(begin[owner] + rng.random(len(owner)) * length[owner])
        kinds.append(np.full(len(owner), kind, dtype=np.int8))

    customers.append(np.arange(count))  # the first purchase
    days.append(first)
    kinds.append(np.zeros(count, dtype=np.int8))
    events(0, first, active_end, rate)  # repeat purchases while active
    for kind, per_day in ((1, opens), (2, opens * process.click_share), (3, sessions)):
        events(kind, signup, active_end, per_day)
        events(kind, active_end, np.full(count, float(HISTORY_DAYS)), per_day * process.after_leaving)
    owner, day, kind = np.concatenate(customers), np.concatenate(days), np.concatenate(kinds)
    amount = np.where(kind == 0, rng.gamma(process.p, 1.0, len(owner)) * mean_spend[owner] / process.p, np.nan)
    activity = pa.table(
        {
            "idx": idx[owner],
            "kind": kind,
            "day": day,
            "amount": pa.array(amount, mask=kind != 0),
        }
    )
    flags = pa.table(
        {
            "idx": idx,
            "crm": rng.random(count) < process.crm_share,
            "loyalty": rng.random(count) < process.loyalty_share,
            "subscriber": subscriber,
            "visitor": visitor,
        }
    )
    return activity, flags


def generate_child(warehouse: str, customers: int, seed: int, process: dict[str, float]) -> dict[str, Any]:
    """Draw `customers` from the process into `warehouse` (a new DuckDB file): the two tables the feature
    models read. Timed, but not part of the figures."""
    import duckdb
    import numpy as np

    known = Process(**process)
    started = time.perf_counter()
    con = duckdb.connect(warehouse)
    con.execute("set memory_limit = '2GB'")
    con.execute("create schema intermediate")
    con.execute(ACTIVITY_DDL)
    con.execute(
        "create table customer_flags (idx bigint, crm boolean, loyalty boolean, subscriber boolean, visitor boolean)"
    )
    streams = np.random.SeedSequence(seed).spawn((customers + CHUNK_CUSTOMERS - 1) // CHUNK_CUSTOMERS)
    activities = ", ".join(f"'{a}'" for a in ACTIVITIES)
    for number, start in enumerate(range(0, customers, CHUNK_CUSTOMERS)):
        activity, flags = _draw_chunk(
            np.random.default_rng(streams[number]), start, min(CHUNK_CUSTOMERS, customers - start), known
        )
        con.register("chunk", activity)
        con.execute(
            f"""
            insert into intermediate.int_customer_activity
            select
                {CUSTOMER_ID},
                [{activities}][kind + 1],
                timestamptz '{NOW}+00' - interval {HISTORY_DAYS} day + to_microseconds(cast(day * 86400e6 as bigint)),
                cast(round(amount, 2) as decimal(28, 6)),
                case when kind = 3 then 'anon_' || idx end
            from chunk
            """
        )
        con.unregister("chunk")
        con.register("flags", flags)
        con.execute("insert into customer_flags select * from flags")
        con.unregister("flags")
    # Records: one per source record, as identity resolution attributes them; transactions one per receipt.
    con.execute(
        f"""
        create table intermediate.int_customer_records as
        with flagged as (select *, {CUSTOMER_ID} as customer_id from customer_flags),
        records as (
            select 'crm' as source, 'contacts' as stream, 'C' || idx as record_id, customer_id from flagged where crm
            union all
            select 'email', 'subscribers', 'S' || idx, customer_id from flagged where subscriber
            union all
            select 'pos', 'loyalty_members', 'L' || idx, customer_id from flagged where loyalty
            union all
            select 'web', 'visitors', 'anon_' || idx, customer_id from flagged where visitor
            union all
            select 'web', 'logins', 'C' || idx, customer_id from flagged where visitor and crm
            union all
            select 'pos', 'transactions', 'T' || row_number() over (order by customer_id, occurred_at), customer_id
            from intermediate.int_customer_activity where activity = 'purchase'
        )
        select
            source || ':' || stream || ':' || record_id as record_key,
            source,
            stream,
            record_id,
            'customer:' || customer_id as customer_key,
            customer_id
        from records
        """
    )
    con.execute("drop table customer_flags")
    counts = dict(
        con.execute(
            "select activity, count(*) from intermediate.int_customer_activity group by 1 order by 1"
        ).fetchall()
    )
    records = con.execute("select count(*) from intermediate.int_customer_records").fetchone()[0]
    con.execute("checkpoint")
    con.close()
    return {
        "seconds": time.perf_counter() - started,
        "activity_rows": sum(counts.values()),
        "activity": counts,
        "records": records,
        "warehouse_mb": Path(warehouse).stat().st_size / 2**20,
        "peak_mb": peak_memory_mb(),
    }


# The measured steps: each in a child process ----------------------------------------------------------------


def _node_seconds(home: Path) -> dict[str, float]:
    """dbt's own execution time of each node the last invocation ran, by name (`unique_id`)."""
    results = json.loads((home / "dbt" / "target" / "run_results.json").read_text())
    return {r["unique_id"]: round(float(r["execution_time"]), 3) for r in results["results"]}


def features_child(home: str) -> dict[str, Any]:
    """The feature tables built, with their tests, by `dbt build` through the project's runner."""
    from tessera.dbt_runner import run_dbt
    from tessera.home import TesseraHome

    root = Path(home)
    started = time.perf_counter()
    run_dbt(["build", "--select", *FEATURE_MODELS, "--vars", json.dumps({"as_of": NOW})], TesseraHome(root))
    seconds = time.perf_counter() - started
    nodes = _node_seconds(root)
    models = {name: nodes.get(f"model.tessera.{name}") for name in FEATURE_MODELS}
    tests = sum(s for uid, s in nodes.items() if uid.startswith(("test.", "unit_test.")))
    return {
        "seconds": seconds,
        "models": models,
        "tests_seconds": round(tests, 3),
        "tests": sum(1 for uid in nodes if uid.startswith(("test.", "unit_test."))),
        "peak_mb": peak_memory_mb(),
    }


def baseline_child(home: str) -> dict[str, Any]:
    """The floor: `int_customer_purchase_features` read into pandas, nothing else."""
    import duckdb

    from benchmarks.harness.probes import warm_up_pyarrow

    warm_up_pyarrow()
    started = time.perf_counter()
    con = duckdb.connect(str(Path(home) / "warehouse.duckdb"), read_only=True)
    frame = con.sql("select * from intermediate.int_customer_purchase_features").df()
    con.close()
    return {"seconds": time.perf_counter() - started, "rows": len(frame), "peak_mb": peak_memory_mb()}


#: The parts of training, as the functions `train_from_warehouse` calls (see `timed_training`).
READ, PARETO, BACKTEST_PARETO, BACKTEST_BG, BACKTEST_SCORE, SPEND, CHURN_BACKTEST, CHURN_FIT, SAVE, OTHER = (
    "read the feature tables",
    "Pareto/NBD fit (now)",
    "backtest: Pareto/NBD refit a window ago",
    "backtest: BG/NBD baseline fit a window ago",
    "backtest: forecasts of the window",
    "Gamma-Gamma fit",
    "churn classifier backtest",
    "churn classifier fit",
    "save the version",
    "other",
)
TRAINING_PARTS = (READ, PARETO, BACKTEST_PARETO, BACKTEST_BG, BACKTEST_SCORE, SPEND, CHURN_BACKTEST, CHURN_FIT, SAVE)


def _fit_now(fit, *args, **kwargs):
    return fit(*args, **kwargs)


def _refit_pareto_nbd(fit, *args, **kwargs):
    return fit(*args, **kwargs)


def _refit_bg_nbd(fit, *args, **kwargs):
    return fit(*args, **kwargs)


#: The purchase model's fits, told apart by when `train_predictors` makes them (timed as these functions).
FITS = {"_fit_now": PARETO, "_refit_pareto_nbd": BACKTEST_PARETO, "_refit_bg_nbd": BACKTEST_BG}


def timed_training(home: Path) -> tuple[Any, Any, dict[str, float], float]:
    """`train_from_warehouse(home)` with the functions it calls timed in place: the predictors, the report,
    seconds per part (each without the parts timed inside it), and the wall seconds."""
    from benchmarks.harness.stages import StageClock
    from tessera.home import TesseraHome
    from tessera.predictions import training
    from transforms.predict import predictors

    clock = StageClock()
    for name, stage in FITS.items():
        clock.wrap(__name__, name, stage)
    clock.wrap("transforms.predict.predictors", "_backtest_purchases", BACKTEST_SCORE)
    fit_purchases, backtest_purchases = predictors.fit_purchases, predictors._backtest_purchases
    in_backtest = [False]
    this = sys.modules[__name__]

    def timed_fit(summary, calibration_end, unit, kind=predictors.DEFAULT_PURCHASE_MODEL, **kwargs):
        name = ("_refit_bg_nbd" if kind == "bg_nbd" else "_refit_pareto_nbd") if in_backtest[0] else "_fit_now"
        return getattr(this, name)(fit_purchases, summary, calibration_end, unit, kind=kind, **kwargs)

    def flagged_backtest(*args, **kwargs):
        in_backtest[0] = True
        try:
            return backtest_purchases(*args, **kwargs)
        finally:
            in_backtest[0] = False

    predictors.fit_purchases = timed_fit
    predictors._backtest_purchases = flagged_backtest
    clock.wrap("transforms.predict.predictors", "fit_spend", SPEND)
    clock.wrap("transforms.predict.predictors", "churn_backtest", CHURN_BACKTEST)
    clock.wrap("transforms.predict.predictors", "fit_churn", CHURN_FIT)
    clock.wrap("transforms.predict.predictors", "PredictorStore.save", SAVE)
    clock.wrap("tessera.predictions.training", "train_predictors", OTHER)
    started = time.perf_counter()
    trained, report = training.train_from_warehouse(TesseraHome(home))
    seconds = time.perf_counter() - started
    parts = dict(clock.seconds)
    inside = sum(parts.values())
    parts[READ] = seconds - inside  # connecting, the two reads into pandas, the audit event
    return trained, report, parts, seconds


def training_child(home: str) -> dict[str, Any]:
    """`train_from_warehouse` on the home's warehouse, timed by part; its backtests and fitted parameters."""
    from benchmarks.harness.probes import warm_up_pyarrow

    warm_up_pyarrow()
    trained, report, parts, seconds = timed_training(Path(home))
    return {
        "seconds": seconds,
        "parts": {name: round(parts.get(name, 0.0), 3) for name in (*TRAINING_PARTS, OTHER)},
        "version": trained.version,
        "report": report.to_dict(),
        "purchase_params": trained.purchases.params,
        "spend_params": trained.spend.params,
        "churn_source": report.churn_source,
        "peak_mb": peak_memory_mb(),
    }


def scoring_child(home: str) -> dict[str, Any]:
    """`dbt run --select customer_predictions`: the saved version loaded, every buyer scored."""
    import duckdb

    from tessera.dbt_runner import run_dbt
    from tessera.home import TesseraHome

    root = Path(home)
    started = time.perf_counter()
    run_dbt(["run", "--select", "customer_predictions"], TesseraHome(root))
    seconds = time.perf_counter() - started
    node = _node_seconds(root).get("model.tessera.customer_predictions")
    peak = peak_memory_mb()
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    [(schema,)] = con.execute(
        "select table_schema from information_schema.tables where table_name = 'customer_predictions'"
    ).fetchall()
    rows, versions, high = con.execute(
        f"select count(*), count(distinct model_version), count(*) filter (where churn_risk = 'high')"
        f" from {schema}.customer_predictions"
    ).fetchone()
    con.close()
    return {
        "seconds": seconds,
        "node_seconds": node,
        "rows": rows,
        "versions": versions,
        "high_risk": high,
        "peak_mb": peak,
    }


def run_step(step: str, root: Path, **kwargs: Any) -> dict[str, Any]:
    log.info("  %s…", step)
    return run_child(
        f"benchmarks.predictors_scale:{step}_child", f"the {step} step in {root}", home=str(root), **kwargs
    )


# One scale ---------------------------------------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def run_scale(workdir: Path, customers: int, seed: int, repeat: int) -> dict[str, Any]:
    """A fresh base of `customers`, its feature tables built, read (the baseline), trained on and scored."""
    root = workdir / f"predictors-c{customers}-s{seed}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    log.info("predictors at %s customers (seed %d) in %s", f"{customers:,}", seed, root)
    log.info("  drawing the customer base…")
    base = run_child(
        "benchmarks.predictors_scale:generate_child",
        f"drawing {customers:,} customers",
        warehouse=str(root / "warehouse.duckdb"),
        customers=customers,
        seed=seed,
        process=asdict(PROCESS),
    )
    log.info(
        "  %s activity rows, %s records in %.1f s (not part of the figures)",
        f"{base['activity_rows']:,}",
        f"{base['records']:,}",
        base["seconds"],
    )
    features = run_step("features", root)
    baselines = [run_step("baseline", root) for _ in range(repeat)]
    training = run_step("training", root)
    scorings = [run_step("scoring", root) for _ in range(repeat)]
    baseline_s, scoring_s = _median(baselines, "seconds"), _median(scorings, "seconds")
    per_1k = customers / 1000
    return {
        "customers": customers,
        "seed": seed,
        "base": base,
        "features": features,
        "baseline": {"seconds": baseline_s, "rows": baselines[0]["rows"], "peak_mb": _median(baselines, "peak_mb")},
        "training": training,
        "scoring": {
            "seconds": scoring_s,
            "node_seconds": _median(scorings, "node_seconds"),
            "rows": scorings[0]["rows"],
            "high_risk": scorings[0]["high_risk"],
            "peak_mb": _median(scorings, "peak_mb"),
        },
        "ratios": {
            "scoring_to_baseline": ratio(scoring_s, baseline_s),
            "scoring_node_to_baseline": ratio(_median(scorings, "node_seconds"), baseline_s),
            "training_to_baseline": ratio(training["seconds"], baseline_s),
        },
        "ms_per_1k_customers": {
            "features": 1000 * features["seconds"] / per_1k,
            "baseline": 1000 * baseline_s / per_1k,
            "training": 1000 * training["seconds"] / per_1k,
            "scoring": 1000 * scoring_s / per_1k,
        },
        "runs": {"baseline": baselines, "scoring": scorings},
        "true_params": asdict(PROCESS),
    }


# Tables ------------------------------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def scales_table(results: list[dict[str, Any]]) -> Table:
    rows = tuple(
        (
            f"{r['customers']:,}",
            f"{r['base']['activity_rows']:,}",
            _s(r["features"]["seconds"]),
            f"{r['baseline']['seconds']:.2f}",
            _s(r["training"]["seconds"]),
            _s(r["scoring"]["seconds"]),
            _s(r["scoring"]["node_seconds"]),
            ratio_cell(r["ratios"]["training_to_baseline"], 0),
            ratio_cell(r["ratios"]["scoring_to_baseline"], 1),
            ratio_cell(r["ratios"]["scoring_node_to_baseline"], 1),
            f"{r['ms_per_1k_customers']['training']:,.0f}",
            f"{r['ms_per_1k_customers']['scoring']:,.0f}",
            f"{r['features']['peak_mb']:,.0f}",
            f"{r['training']['peak_mb']:,.0f}",
            f"{r['scoring']['peak_mb']:,.0f}",
        )
        for r in results
    )
    header = (
        "customers",
        "activity rows",
        "features s",
        "read s",
        "training s",
        "scoring s",
        "model node s",
        "training ÷ read",
        "scoring ÷ read",
        "node ÷ read",
        "training ms/1k",
        "scoring ms/1k",
        "features MB",
        "training MB",
        "scoring MB",
    )
    return Table(header, rows)


def parts_table(result: dict[str, Any]) -> Table:
    training = result["training"]
    parts = training["parts"]
    total = training["seconds"]
    rows = [(name, f"{parts[name]:.2f}", share_cell(parts[name] / total)) for name in (*TRAINING_PARTS, OTHER)]
    rows.append(("training (wall)", f"{total:.2f}", share_cell(1.0)))
    return Table(("part", "seconds", "share"), tuple(rows))


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f} %"


def backtests_table(results: list[dict[str, Any]]) -> Table:
    rows = []
    for r in results:
        report = r["training"]["report"]
        backtests = report["purchase_backtests"]
        project, plain = backtests.get("pareto_nbd"), backtests.get("bg_nbd")
        churn = report["churn_backtest"]
        rows.append(
            (
                f"{r['customers']:,}",
                f"{project['customers']:,}" if project else "n/a",
                f"{project['predicted_total']:,.0f}" if project else "n/a",
                f"{project['actual_total']:,}" if project else "n/a",
                _percent(project["relative_error"]) if project else "n/a",
                _percent(plain["relative_error"]) if plain else "n/a",
                f"{project['mae']:.3f}" if project else "n/a",
                f"{plain['mae']:.3f}" if plain else "n/a",
                f"{churn['auc']:.3f}" if churn else "n/a",
                f"{churn['brier']:.3f} / {churn['brier_of_base_rate']:.3f}" if churn else "n/a",
            )
        )
    header = (
        "customers",
        "backtest buyers",
        "Pareto/NBD predicted",
        "actual",
        "Pareto/NBD error",
        "BG/NBD error",
        "Pareto/NBD MAE",
        "BG/NBD MAE",
        "churn AUC",
        "Brier / base rate",
    )
    return Table(header, tuple(rows))


def params_table(results: list[dict[str, Any]]) -> Table:
    """The fitted Pareto/NBD and Gamma-Gamma parameters at each scale beside the process's own."""
    names = (
        ("r", "purchase_params"),
        ("alpha", "purchase_params"),
        ("s", "purchase_params"),
        ("beta", "purchase_params"),
    )
    names += (("p", "spend_params"), ("q", "spend_params"), ("v", "spend_params"))
    header = ("parameter", "true", *(f"fitted at {r['customers']:,}" for r in results))
    rows = tuple(
        (name, f"{getattr(PROCESS, name):g}", *(f"{r['training'][kind][name]:.3g}" for r in results))
        for name, kind in names
    )
    return Table(header, rows)


def readme_tables(report: dict[str, Any]) -> dict[str, Table]:
    """The tables the run prints, by name, as `--record` writes them into benchmarks/README.md."""
    results = report["results"]
    tables = {"scales": scales_table(results), "backtests": backtests_table(results), "params": params_table(results)}
    for r in results:
        tables[f"run-{r['customers']}"] = scales_table([r])
        tables[f"parts-{r['customers']}"] = parts_table(r)
    return tables


def heading(result: dict[str, Any]) -> str:
    base = result["base"]
    return (
        f"Predictors at {result['customers']:,} customers (seed {result['seed']}): {base['activity_rows']:,}"
        f" activity rows, {base['records']:,} records, drawn in {base['seconds']:.1f} s"
    )


def summary(result: dict[str, Any]) -> str:
    report = result["training"]["report"]
    churn = report["churn_backtest"]
    lines = [
        "",
        f"Feature tables: {', '.join(f'{n} {s:.1f} s' for n, s in result['features']['models'].items())},"
        f" {result['features']['tests']} tests {result['features']['tests_seconds']:.1f} s"
        f" (dbt node times; the build's wall {result['features']['seconds']:.1f} s)",
        f"Training parts (version {result['training']['version']}, {report['buyers']:,} buyers as of {report['as_of']}):",
        text_table(parts_table(result)),
        "",
        "Backtest (fitted a window ago, forecast of the 90 days after):",
        text_table(backtests_table([result])),
        "",
        "Fitted parameters beside the known process:",
        text_table(params_table([result])),
        "",
        f"Scored {result['scoring']['rows']:,} buyers ({result['scoring']['high_risk']:,} high churn risk);"
        f" churn from the {result['training']['churn_source'].replace('_', ' ')}"
        + (f", backtest AUC {churn['auc']:.3f} on {churn['customers']:,} buyers" if churn else ""),
    ]
    return "\n".join(lines)


BENCHMARK = ScaleBenchmark(
    name="predictors_scale",
    description="Build the predictors' feature tables, train the predictors and score every customer on a "
    "customer base drawn from a known process, against reading the features into pandas (see "
    "benchmarks/README.md).",
    default_scales=DEFAULT_SCALES,
    repeat_help="read baselines and scoring runs per scale, reporting the median (the build and training run once)",
    run_scale=run_scale,
    heading=heading,
    table="run",
    summary=summary,
    readme_tables=readme_tables,
    footnote="read: int_customer_purchase_features into pandas; model node: dbt's own time of customer_predictions"
    " (the run's wall adds dbt's start-up and parse).",
    context=lambda: {"process": asdict(PROCESS), "now": NOW, "history_days": HISTORY_DAYS},
)


def main(argv: list[str] | None = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    sys.exit(main())
