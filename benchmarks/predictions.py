"""The predictions benchmark: the project's forecast (Pareto/NBD) against plain BG/NBD on the CDNOW master file.

`python -m benchmarks.predictions` reads the CDNOW master file that ships in the `lifetimes` wheel (23,570
customers who first bought in 1997-Q1, followed to 1998-06-30), summarises it in weeks as of each cut-off with
`transforms.predict.rfm`, fits both purchase models on the summary alone and scores their forecast of purchase
days from the cut-off to 1998-06-30 with `transforms.predict.backtest`:

- the paper's split (calibration to 1997-09-30, a 39-week holdout): total predicted against actual, the
  relative error, the per-customer MAE, the fit and scoring times, and the forecast by decile;
- the other cut-offs (`--cutoff-weeks`, calibration from 26 to 52 weeks by default), so that an improvement
  is shown not to be an artefact of one split; and, at each, a paired bootstrap over customers (the fitted
  models held fixed): the share of resampled customer bases on which the project wins on both figures. Earlier cut-offs (13, 20 weeks, while customers are still
  being acquired) can be asked for; both models are poor there.

No figure from the holdout reaches a fit.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.harness.command import run_command
from benchmarks.harness.options import default_workdir, positive_int
from benchmarks.harness.readme import record_results
from benchmarks.harness.results import ResultsFile
from benchmarks.harness.tables import Table, text_table

log = logging.getLogger("benchmarks.predictions")

COHORT_START = pd.Timestamp("1997-01-01")
DATA_END = pd.Timestamp("1998-06-30")
PAPER_CUTOFF_WEEKS = 39
DEFAULT_CUTOFF_WEEKS = (26, 32, 39, 45, 52)
BOOTSTRAP_SAMPLES = 1000
MODELS = {"bg_nbd": "plain BG/NBD", "pareto_nbd": "project (Pareto/NBD)"}


def cutoff_of(weeks: int) -> pd.Timestamp:
    """The last calibration day after `weeks` weeks: 39 weeks is 1997-09-30, the paper's cut-off."""
    return COHORT_START + pd.Timedelta(weeks=weeks) - pd.Timedelta(days=1)


def bootstrap_wins(actual: np.ndarray, plain: np.ndarray, project: np.ndarray, samples: int, seed: int = 0) -> float:
    """The share of customer resamples (with replacement, paired) on which the project's forecast has both the
    smaller absolute total error and the smaller MAE: how much of the gain is luck of the customers drawn."""
    rng = np.random.default_rng(seed)
    wins = 0
    for start in range(0, samples, 100):
        draws = rng.integers(0, len(actual), size=(min(100, samples - start), len(actual)))
        a, p, q = actual[draws], plain[draws], project[draws]
        total_wins = np.abs(q.sum(axis=1) - a.sum(axis=1)) < np.abs(p.sum(axis=1) - a.sum(axis=1))
        mae_wins = np.abs(q - a).mean(axis=1) < np.abs(p - a).mean(axis=1)
        wins += int((total_wins & mae_wins).sum())
    return wins / samples


def run_split(transactions: pd.DataFrame, weeks: int) -> dict[str, Any]:
    """Both models on one cut-off: their backtests and times."""
    from transforms.predict.backtest import backtest
    from transforms.predict.btyd import fit_purchases
    from transforms.predict.rfm import calibration_and_holdout

    cutoff = cutoff_of(weeks)
    horizon = (DATA_END - cutoff).days / 7
    started = time.perf_counter()
    summary = calibration_and_holdout(transactions, cutoff, horizon, unit="weeks")
    summary_seconds = time.perf_counter() - started
    calibration = summary.drop(columns="holdout_purchases")  # what the fits see
    split: dict[str, Any] = {
        "cutoff_weeks": weeks,
        "cutoff": f"{cutoff:%Y-%m-%d}",
        "horizon_weeks": round(horizon, 2),
        "customers": len(summary),
        "summary_seconds": round(summary_seconds, 3),
        "models": {},
    }
    forecasts = {}
    for kind in MODELS:
        started = time.perf_counter()
        model = fit_purchases(calibration, f"{cutoff:%Y-%m-%d}", unit="weeks", kind=kind)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        predicted = model.expected_purchases(calibration, horizon)
        score_seconds = time.perf_counter() - started
        result = backtest(predicted, summary["holdout_purchases"])
        forecasts[kind] = predicted.to_numpy()
        split["models"][kind] = {
            **result.to_dict(),
            "params": model.params,
            "fit_seconds": round(fit_seconds, 3),
            "score_seconds": round(score_seconds, 3),
        }
        log.info("%s at %d weeks: %+.1f %% total, MAE %.4f", kind, weeks, 100 * result.relative_error, result.mae)
    split["bootstrap_project_wins"] = bootstrap_wins(
        summary["holdout_purchases"].to_numpy(), forecasts["bg_nbd"], forecasts["pareto_nbd"], BOOTSTRAP_SAMPLES
    )
    return split


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f} %"


def paper_split_table(split: dict[str, Any]) -> Table:
    rows = tuple(
        (
            MODELS[kind],
            f"{m['predicted_total']:,.0f}",
            f"{m['actual_total']:,}",
            _percent(m["relative_error"]),
            f"{m['mae']:.4f}",
            f"{m['fit_seconds']:.2f}",
            f"{m['score_seconds']:.3f}",
        )
        for kind, m in split["models"].items()
    )
    return Table(("model", "predicted", "actual", "total error", "MAE", "fit s", "score s"), rows)


def decile_table(split: dict[str, Any]) -> Table:
    models = split["models"]
    rows = tuple(
        (
            str(bg["decile"]),
            f"{bg['actual']:,}",
            f"{bg['predicted']:,.0f}",
            f"{pareto['actual']:,}",
            f"{pareto['predicted']:,.0f}",
        )
        for bg, pareto in zip(models["bg_nbd"]["deciles"], models["pareto_nbd"]["deciles"], strict=True)
    )
    return Table(("decile", "BG/NBD actual", "BG/NBD predicted", "project actual", "project predicted"), rows)


def robustness_table(splits: list[dict[str, Any]]) -> Table:
    rows = []
    for split in splits:
        bg, project = split["models"]["bg_nbd"], split["models"]["pareto_nbd"]
        wins = (abs(project["relative_error"]) < abs(bg["relative_error"]), project["mae"] < bg["mae"])
        rows.append(
            (
                f"{split['cutoff']} ({split['cutoff_weeks']} wk)",
                f"{split['horizon_weeks']:.0f}",
                f"{split['models']['bg_nbd']['actual_total']:,}",
                _percent(bg["relative_error"]),
                _percent(project["relative_error"]),
                f"{bg['mae']:.4f}",
                f"{project['mae']:.4f}",
                "both" if all(wins) else "MAE" if wins[1] else "total" if wins[0] else "neither",
                f"{100 * split['bootstrap_project_wins']:.0f} %",
            )
        )
    header = (
        "cut-off",
        "holdout wk",
        "actual",
        "BG/NBD error",
        "project error",
        "BG/NBD MAE",
        "project MAE",
        "project wins",
        "bootstrap wins",
    )
    return Table(header, tuple(rows))


def readme_tables(report: dict[str, Any]) -> dict[str, Table]:
    """The tables the run prints, by name, as `--record` writes them into benchmarks/README.md."""
    splits = report["results"]
    paper = next(s for s in splits if s["cutoff_weeks"] == PAPER_CUTOFF_WEEKS)
    return {"paper": paper_split_table(paper), "deciles": decile_table(paper), "cutoffs": robustness_table(splits)}


def run_benchmark(args: argparse.Namespace) -> Path:
    from transforms.predict.cdnow import read_cdnow

    workdir = Path(args.workdir or default_workdir()).resolve()
    results_file = ResultsFile(workdir, "predictions", repeat=1, data="CDNOW_master.txt (lifetimes wheel)")
    started = time.perf_counter()
    transactions = read_cdnow("master")
    read_seconds = time.perf_counter() - started
    weeks = sorted(set(args.cutoff_weeks) | {PAPER_CUTOFF_WEEKS})
    splits = [run_split(transactions, w) for w in weeks]
    report = results_file.write(splits, orders=len(transactions), read_seconds=round(read_seconds, 3))
    tables = readme_tables(report)
    paper = next(s for s in splits if s["cutoff_weeks"] == PAPER_CUTOFF_WEEKS)

    print(
        f"\nCDNOW master: {paper['customers']:,} customers, {len(transactions):,} orders; calibration to"
        f" {paper['cutoff']}, forecast of purchase days in the {paper['horizon_weeks']:.0f} weeks after"
        f" (summary in {paper['summary_seconds']:.2f} s); {results_file.conditions(results_file.machine['load_average'])}"
    )
    print(text_table(tables["paper"]))
    print("\nBy decile of each model's forecast (1 = highest)")
    print(text_table(tables["deciles"]))
    print(
        "\nEvery cut-off: forecast to 1998-06-30, relative error of the total and per-customer MAE; bootstrap wins:"
        f" the share of {BOOTSTRAP_SAMPLES} paired customer resamples on which the project wins on both"
    )
    print(text_table(tables["cutoffs"]))
    print(f"\nResults: {results_file.path}")
    if args.record:
        record_results(results_file.path, "predictions", readme_tables)
    return results_file.path


def _weeks(text: str) -> list[int]:
    weeks = [positive_int(part) for part in text.split(",") if part.strip()]
    if any(w >= 77 for w in weeks):
        raise argparse.ArgumentTypeError("cut-offs must leave a holdout before 1998-06-30 (at most 76 weeks)")
    return weeks


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.predictions",
        description="Compare the project's purchase forecast with plain BG/NBD on the CDNOW master file's "
        "holdout, at the paper's cut-off and at others.",
    )
    parser.add_argument(
        "--cutoff-weeks",
        type=_weeks,
        default=list(DEFAULT_CUTOFF_WEEKS),
        help="comma-separated calibration lengths in weeks from 1997-01-01 (default 26,32,39,45,52; 39 always runs)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where results go (default $TESSERA_HOME/bench)")
    parser.add_argument(
        "--record",
        action="store_true",
        help="copy the results into benchmarks/recorded/ and rewrite the tables of benchmarks/README.md from them",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_command(parse_args(argv), "predictions", run_benchmark)


if __name__ == "__main__":
    sys.exit(main())
