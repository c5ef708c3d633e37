"""Scoring profile records with a trained person matcher: the candidate pairs at or above a threshold,
each with the comparison level of every attribute, so an edge can say why it was made."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from copy import deepcopy
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from transforms.identity.matching.blocking_budget import DEFAULT_MAX_COMPARISONS_PER_RECORD, plan_blocking
from transforms.identity.matching.comparisons import CONFLICTING_LEVELS, PER_PERSON_LEVELS, PERSONAL_LEVELS
from transforms.identity.matching.model_file import MatcherModel
from transforms.identity.matching.records import load_records, scratch, splink_linker
from transforms.identity.matching.spark_backend import copy_to_spark, spark_scratch

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from transforms.identity.matching.fitting import FittedModels

log = logging.getLogger(__name__)

#: Schema metadata keys of `score()`'s result: how many candidate pairs the blocking rules produced, and
#: the blocking plan (each rule's count and whether it was kept, tightened or skipped), as JSON.
PAIRS_COMPARED = "pairs_compared"
BLOCKING_PLAN = "blocking_plan"
FIT_KEY = "fit_key"
SCORED = "scored"
#: Seconds per step of `score()` (JSON): where a slow match run spends its time.
STEP_SECONDS = "step_seconds"

#: The data holds households when more than this share of the record pairs at one street address (first
#: names and birth dates known on both sides) are plainly two people: first names unalike and birth dates
#: more than a month apart. About 1 % of such pairs in FEBRL (its corrupted copies), half in a regional
#: shop's customers, where families share a home and a surname.
HOUSEHOLD_SHARE = 0.05


def sized_for(model: MatcherModel, n_records: int) -> dict[str, Any]:
    """The model's Splink settings adjusted to a data set of `n_records` (the model is trained on one size).

    A person has about the same number of records however many people there are, so the true pairs
    grow with the records while the possible pairs grow with their square: the prior scales with
    1 / (records - 1). So does the chance that two strangers share something only one person has
    (a street line, an email, a phone: `PER_PERSON_LEVELS`), and those u values scale with it.
    Evidence from names and birth dates does not, so a pair that agrees only on those is judged
    more strictly in a bigger crowd, where more people share a name, and more leniently in a small one.
    """
    settings = deepcopy(model.splink_settings)
    if n_records < 2:
        return settings
    factor = (model.training_records - 1) / (n_records - 1)
    key = "probability_two_random_records_match"
    settings[key] = min(0.5, float(settings[key]) * factor)
    for comparison in settings["comparisons"]:
        scaled = PER_PERSON_LEVELS.get(comparison["output_column_name"], ())
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for lv in levels:
            if lv["label_for_charts"] in scaled:
                lv["u_probability"] = min(0.5, lv["u_probability"] * factor)
        total = sum(lv["u_probability"] for lv in levels)
        for lv in levels:
            lv["u_probability"] /= total
    return settings


def score(
    records: pa.Table | str,
    model: MatcherModel,
    threshold: float,
    *,
    nicknames: Iterable[tuple[str, str]],
    con: duckdb.DuckDBPyConnection | None = None,
    fits: FittedModels | None = None,
    max_comparisons_per_record: float = DEFAULT_MAX_COMPARISONS_PER_RECORD,
    only: str | None = None,
    previous_fit: str | None = None,
    spark: SparkSession | None = None,
) -> pa.Table:
    """Score candidate pairs of records with a trained model; the pairs at or above `threshold`.

    `records` is an Arrow table, or a table name or parenthesised query that `con` can read. With `fits`,
    the records are scored with a fit of the model to them (`fitting.py`: made on the first run and when
    the data drifts, frozen in between), and `only` (a parenthesised query of `record_key`s: the new or
    changed records) scores just the pairs that hold one of those records, provided the fit is still
    `previous_fit` (the key of the fit the other pairs were scored with); otherwise every pair is scored.
    Each blocking rule is held to `max_comparisons_per_record` pairs per record (`blocking_budget.py`).
    Pairs in `CONFLICTING_LEVELS` (two people of one household) are never returned, nor, where the data
    holds households, pairs without personal evidence.

    The result has one row per pair: `record_key_a` < `record_key_b`, `match_probability`, `match_weight`
    (log2 of the Bayes factor and prior) and `match_detail`, a JSON object giving each comparison's level
    (`gamma`, Splink's comparison vector value, and its label). Its schema metadata holds the pairs
    compared (`PAIRS_COMPARED`), the blocking plan (`BLOCKING_PLAN`, JSON), the fit's key (`FIT_KEY`,
    empty without `fits`) and whether every pair was scored or only the changed records' (`SCORED`).

    With `spark`, Splink builds and scores the candidate pairs on Spark (`spark_backend.py`), the steps that
    grow with the pairs; the steps sized by the records (their preparation, the fit, the blocking plan, the
    household share, term frequencies) and the matches made of the scored pairs stay in the DuckDB scratch
    database (of `con`, or an own one). The result is the same as on DuckDB, pair for pair.
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"match probability threshold must be between 0 and 1, got {threshold}")
    steps: dict[str, float] = {}
    with scratch(con) as cur, nullcontext() if spark is None else spark_scratch(spark) as splink_spark:
        with _timed(steps, "records"):
            tables = load_records(cur, records, nicknames)
        n_records = cur.execute("select count(*) from matching_records").fetchall()[0][0]
        if not tables:
            return _empty_pairs().replace_schema_metadata({PAIRS_COMPARED: "0", FIT_KEY: "", SCORED: "all"})
        with _timed(steps, "fit"):
            if fits is not None:
                fit = fits.fit_for(model, cur, tables)
                settings, fit_key, households = deepcopy(fit.model.splink_settings), fit.key, fit.household_share
            else:
                fit, settings, fit_key, households = None, sized_for(model, n_records), "", household_share(cur)
        rules = [
            r if isinstance(r, str) else r["blocking_rule"] for r in settings["blocking_rules_to_generate_predictions"]
        ]
        with _timed(steps, "blocking plan"):
            plan = plan_blocking(
                cur,
                tables,
                rules,
                link_type=settings["link_type"] if len(tables) > 1 else "dedupe_only",
                max_comparisons_per_record=max_comparisons_per_record,
            )
        log.info("%s", plan.describe())
        incremental = only is not None and bool(fit_key) and fit_key == previous_fit
        metadata = {
            BLOCKING_PLAN: json.dumps(plan.to_dict()),
            FIT_KEY: fit_key,
            SCORED: "changed" if incremental else "all",
        }
        if not plan.rules:  # Splink reads no rules as "compare every pair"
            return _empty_pairs().replace_schema_metadata({PAIRS_COMPARED: "0", **metadata})
        settings["blocking_rules_to_generate_predictions"] = plan.rules
        settings["retain_matching_columns"] = True  # Splink outputs the gamma columns (match_detail) with them
        if incremental:
            cur.execute(
                f"create table matching_changed as select * exclude (source_dataset) from matching_records"
                f" where record_key in (select record_key from {only})"
            ).fetchall()
            cur.execute(
                "create table matching_all as select * exclude (source_dataset) from matching_records"
            ).fetchall()
            # Every pair holding a changed record: the changed records linked with all records, themselves aside.
            settings["link_type"] = "link_only"
            settings["blocking_rules_to_generate_predictions"] = [
                f"({rule}) and l.record_key <> r.record_key" for rule in plan.rules
            ]
            linker = splink_linker(
                cur, [("matching_changed", "changed"), ("matching_all", "all")], settings, spark=splink_spark
            )
        else:
            linker = splink_linker(cur, tables, settings, spark=splink_spark)
        if fit is not None and fit.term_frequencies is not None:
            _register_term_frequencies(linker, cur, fit.term_frequencies, splink_spark)
        with _timed(steps, "candidate pairs"):
            blocked = linker.inference.compute_blocked_pairs_for_predict()  # predict() reuses it
            compared = _count(cur, splink_spark, blocked.physical_name)
        with _timed(steps, "scoring"):
            predictions = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
            scored = _scored_pairs(cur, splink_spark, predictions.physical_name, settings["comparisons"])
        detail = _detail_sql(settings["comparisons"])
        refused = _levels_sql(settings["comparisons"], CONFLICTING_LEVELS, " and ")
        if households >= HOUSEHOLD_SHARE:
            refused = f"{refused} or not {_levels_sql(settings['comparisons'], PERSONAL_LEVELS, ' or ')}"
        started = time.perf_counter()
        (vetoed,) = cur.sql(
            f"select count(*) from {scored} where match_probability >= {threshold!r} and ({refused})"
        ).fetchall()[0]
        pairs = cur.sql(
            f"""
            select distinct
                least(record_key_l, record_key_r) as record_key_a,
                greatest(record_key_l, record_key_r) as record_key_b,
                match_probability,
                match_weight,
                {detail} as match_detail
            from {scored}
            where match_probability >= {threshold!r} and not ({refused})
            order by record_key_a, record_key_b
            """
        ).to_arrow_table()
        steps["matches"] = time.perf_counter() - started
    log.info(
        "matching: %d records (%s), %d candidate pairs compared, %d at or above %s (%d more refused: two people by"
        " name and birth date%s)",
        n_records,
        "scoring the pairs of new and changed records" if incremental else "scoring every pair",
        compared,
        pairs.num_rows,
        threshold,
        vetoed,
        f", or no personal evidence where {households:.0%} of pairs at one address are two people"
        if households >= HOUSEHOLD_SHARE
        else "",
    )
    log.info("matching: seconds per step: %s", describe_steps(steps))
    metadata[STEP_SECONDS] = json.dumps(steps)
    return pairs.replace_schema_metadata({PAIRS_COMPARED: str(compared), **metadata})


def _count(cur: duckdb.DuckDBPyConnection, spark: SparkSession | None, table: str) -> int:
    """The rows of one of Splink's tables, in DuckDB or on Spark."""
    query = f"select count(*) from {table}"
    return cur.sql(query).fetchall()[0][0] if spark is None else spark.sql(query).collect()[0][0]


def _scored_pairs(
    cur: duckdb.DuckDBPyConnection, spark: SparkSession | None, predictions: str, comparisons: list[dict[str, Any]]
) -> str:
    """The scored pairs as a table of the scratch database, where the matches are made of them: Splink's own
    on DuckDB; from Spark, the columns the matches read, fetched as Arrow (the pairs at the threshold)."""
    if spark is None:
        return predictions
    columns = ["record_key_l", "record_key_r", "match_probability", "match_weight"]
    columns += [f"gamma_{c['output_column_name']}" for c in comparisons]
    cur.register("matching_scored_pairs", spark.table(predictions).select(*columns).toArrow())
    return "matching_scored_pairs"


def _register_term_frequencies(linker, cur: duckdb.DuckDBPyConnection, path, spark: SparkSession | None = None) -> None:
    """Score with the fit's term frequencies, not the day's: a pair's score then stays put from day to day."""
    frozen = cur.sql("select * from read_parquet($path)", params={"path": str(path)}).to_arrow_table()
    cur.register("matching_frozen_tf", frozen)
    for column in sorted(set(frozen.column("column_name").to_pylist())):
        table = f"matching_tf_{column}"
        cur.execute(
            f"create table {table} as select value as {column}, tf as tf_{column}"
            f" from matching_frozen_tf where column_name = '{column}'"
        ).fetchall()
        if spark is not None:
            copy_to_spark(cur, spark, table)
        linker.table_management.register_term_frequency_lookup(
            linker.table_management.register_table(table, f"{table}_input", overwrite=True), column
        )
    cur.unregister("matching_frozen_tf")


def _gammas(comparison: dict[str, Any]) -> dict[str, int]:
    """Each level's label and its gamma, Splink's comparison vector value (-1 for the null level, then
    counting down to 0 for the last level)."""
    levels = comparison["comparison_levels"]
    counter = sum(1 for lv in levels if not lv.get("is_null_level"))
    gammas = {}
    for lv in levels:
        if lv.get("is_null_level"):
            gamma = -1
        else:
            counter -= 1
            gamma = counter
        gammas[lv.get("label_for_charts", str(gamma))] = gamma
    return gammas


def _levels_sql(comparisons: list[dict[str, Any]], levels: dict[str, tuple[str, ...]], joiner: str) -> str:
    """True for a pair whose comparisons fall in the given levels: all of them (" and ") or any (" or ")."""
    by_name = {c["output_column_name"]: _gammas(c) for c in comparisons}
    parts = []
    for name, labels in levels.items():
        gammas = sorted(by_name[name][label] for label in labels)
        parts.append(f"gamma_{name} in ({', '.join(map(str, gammas))})")
    return "(" + joiner.join(parts) + ")"


def household_share(cur: duckdb.DuckDBPyConnection, table: str = "matching_records") -> float:
    """The share of record pairs at one street address (names and birth dates known) that are plainly two
    people (see `HOUSEHOLD_SHARE`). An equi-join on the address: its cost follows the people per home."""
    known, apart = cur.execute(
        f"""
        with homes as (
            select record_key, first_name, birth_date, street, postcode
            from {table}
            where street is not null and postcode is not null and first_name is not null and birth_date is not null
        )
        select
            count(*),
            count(*) filter (
                where jaro_winkler_similarity(a.first_name, b.first_name) < 0.8
                    and abs(date_diff('day', a.birth_date, b.birth_date)) > 31
            )
        from homes as a
        inner join homes as b on a.street = b.street and a.postcode = b.postcode and a.record_key < b.record_key
        """
    ).fetchall()[0]
    return apart / known if known else 0.0


def _detail_sql(comparisons: list[dict[str, Any]]) -> str:
    """A JSON object with the level of every comparison: `{"first_name": {"gamma": 4, "level": "exact"}, …}`."""
    parts = []
    for comparison in comparisons:
        name = comparison["output_column_name"]
        cases = " ".join(
            f"when {gamma} then '{label.replace(chr(39), chr(39) * 2)}'" for label, gamma in _gammas(comparison).items()
        )
        parts.append(f"'{name}', json_object('gamma', gamma_{name}, 'level', case gamma_{name} {cases} end)")
    return f"cast(json_object({', '.join(parts)}) as varchar)"


def _empty_pairs() -> pa.Table:
    return pa.table(
        {
            "record_key_a": pa.array([], pa.string()),
            "record_key_b": pa.array([], pa.string()),
            "match_probability": pa.array([], pa.float64()),
            "match_weight": pa.array([], pa.float64()),
            "match_detail": pa.array([], pa.string()),
        }
    )


def describe_steps(steps: dict[str, float]) -> str:
    """`records 1.2 s, fit 0.4 s, …`: a step's share of a match run, for the run's log."""
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items())


@contextmanager
def _timed(steps: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    steps[name] = time.perf_counter() - started
