"""Scoring profile records with a trained person matcher: the candidate pairs at or above a threshold,
each with the comparison level of every attribute, so an edge can say why it was made."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from copy import deepcopy
from typing import Any

import duckdb
import pyarrow as pa

from transforms.identity.matching.comparisons import PER_PERSON_LEVELS
from transforms.identity.matching.model_file import MatcherModel
from transforms.identity.matching.records import load_records, scratch, splink_linker

log = logging.getLogger(__name__)

#: Schema metadata key of `score()`'s result: how many candidate pairs the blocking rules produced.
PAIRS_COMPARED = "pairs_compared"


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
) -> pa.Table:
    """Score every candidate pair of records with a trained model; the pairs at or above `threshold`.

    `records` is an Arrow table, or a table name or parenthesised query that `con` can read. The result
    has one row per pair: `record_key_a` < `record_key_b`, `match_probability`, `match_weight`
    (log2 of the Bayes factor and prior) and `match_detail`, a JSON object giving each
    comparison's level (`gamma`, Splink's comparison vector value, and its label).
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"match probability threshold must be between 0 and 1, got {threshold}")
    with scratch(con) as cur:
        tables = load_records(cur, records, nicknames)
        n_records = cur.execute("select count(*) from matching_records").fetchall()[0][0]
        if not tables:
            return _empty_pairs().replace_schema_metadata({PAIRS_COMPARED: "0"})
        settings = sized_for(model, n_records)
        settings["retain_matching_columns"] = True  # Splink outputs the gamma columns (match_detail) with them
        linker = splink_linker(cur, tables, settings)
        blocked = linker.inference.compute_blocked_pairs_for_predict()  # predict() reuses it
        compared = cur.sql(f"select count(*) from {blocked.physical_name}").fetchall()[0][0]
        predictions = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
        detail = _detail_sql(settings["comparisons"])
        pairs = cur.sql(
            f"""
            select
                least(record_key_l, record_key_r) as record_key_a,
                greatest(record_key_l, record_key_r) as record_key_b,
                match_probability,
                match_weight,
                {detail} as match_detail
            from {predictions.physical_name}
            where match_probability >= {threshold!r}
            order by record_key_a, record_key_b
            """
        ).to_arrow_table()
    log.info(
        "matching: %d records, %d candidate pairs compared, %d at or above %s",
        n_records,
        compared,
        pairs.num_rows,
        threshold,
    )
    return pairs.replace_schema_metadata({PAIRS_COMPARED: str(compared)})


def _detail_sql(comparisons: list[dict[str, Any]]) -> str:
    """A JSON object with the level of every comparison: `{"first_name": {"gamma": 4, "level": "exact"}, …}`."""
    parts = []
    for comparison in comparisons:
        name = comparison["output_column_name"]
        levels = comparison["comparison_levels"]
        counter = sum(1 for lv in levels if not lv.get("is_null_level"))
        cases = []
        for lv in levels:
            if lv.get("is_null_level"):
                gamma = -1
            else:
                counter -= 1
                gamma = counter
            label = lv.get("label_for_charts", str(gamma)).replace("'", "''")
            cases.append(f"when {gamma} then '{label}'")
        parts.append(f"'{name}', json_object('gamma', gamma_{name}, 'level', case gamma_{name} {' '.join(cases)} end)")
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
