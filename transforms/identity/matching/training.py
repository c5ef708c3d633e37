"""Training the person matcher: its m and u values and prior, estimated from unlabelled profile records."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from transforms.identity.matching.comparisons import person_settings
from transforms.identity.matching.model_file import MatcherModel
from transforms.identity.matching.records import load_records, scratch, splink_linker

log = logging.getLogger(__name__)


class NoTrainingPairs(ValueError):
    """The records give no pair to estimate m-probabilities from: nothing the training rules block on."""


#: Expectation maximisation runs once per rule; each estimates the comparisons the rule does not use.
TRAINING_BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("first_name", "last_name"),
    ("birth_date",),
)

#: The smallest share of true pairs a level may claim. Training data (simulated, or a few thousand
#: records) cannot show disagreements rarer than about 1 in 1,000 true pairs; without a floor such a
#: level would be "impossible for a match" and one stray birth date would veto any pair.
M_FLOOR = 1e-3


def train(
    records: pa.Table | str,
    nicknames: Iterable[tuple[str, str]],
    *,
    seed: int = 42,
    training_data: str = "",
    version: int = 1,
    max_u_pairs: float = 2e6,
    max_em_pairs: float = 5e6,
    con: duckdb.DuckDBPyConnection | None = None,
) -> MatcherModel:
    """Estimate the model's parameters from unlabelled profile records.

    u values come from random pairs drawn with `seed`; m values from expectation maximisation on
    two blocking passes (each on a deterministic sample of at most `max_em_pairs` pairs), each
    estimating the comparisons it does not block on; the prior from what those passes found,
    corrected for the pairs their blocking left out. True matches are taken out of u, and levels
    too rare to estimate get a floor (`M_FLOOR`). The same records and seed give the same model.
    """
    with scratch(con) as cur:
        tables = load_records(cur, records, nicknames)
        n_records = cur.execute("select count(*) from matching_records").fetchall()[0][0]
        return train_loaded(
            cur,
            tables,
            n_records,
            seed=seed,
            training_data=training_data or f"{n_records} profile records",
            version=version,
            max_u_pairs=max_u_pairs,
            max_em_pairs=max_em_pairs,
        )


def train_loaded(
    cur: duckdb.DuckDBPyConnection,
    tables: list[tuple[str, str]],
    n_records: int,
    *,
    seed: int,
    training_data: str,
    version: int,
    max_u_pairs: float = 2e6,
    max_em_pairs: float = 5e6,
) -> MatcherModel:
    """`train()` on records already prepared in a scratch database (`records.load_records`)."""
    import splink
    from splink import block_on

    if n_records < 100:
        raise ValueError(f"training needs at least 100 profile records, got {n_records}")
    from splink.internals.exceptions import EMTrainingException

    linker = splink_linker(cur, tables, person_settings())
    training = linker.training
    training.estimate_u_using_random_sampling(max_pairs=max_u_pairs, seed=seed, min_count_per_level=None, num_chunks=1)
    trained = []
    for i, rule in enumerate(TRAINING_BLOCKING_RULES):
        try:
            training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule),
                estimate_without_term_frequencies=True,
                max_pairs=max_em_pairs,
                populate_probability_two_random_records_match_from_trained_values=i == len(TRAINING_BLOCKING_RULES) - 1,
            )
        except EMTrainingException as exc:  # data without the rule's fields (loyalty cards with no names)
            log.warning("matcher: training on %s found no pairs to learn from, skipped (%s)", " and ".join(rule), exc)
            continue
        trained.append(rule)
    if not trained:
        raise NoTrainingPairs(
            "no training rule found pairs of records to learn from ("
            + "; ".join(" and ".join(rule) for rule in TRAINING_BLOCKING_RULES)
            + ")"
        )
    settings = linker.misc.save_model_to_json()
    settings.pop("linker_uid", None)
    _remove_matches_from_u(settings)
    _floor_probabilities(settings, m_floor=M_FLOOR, u_floor=0.5 / max_u_pairs)
    _round_probabilities(settings)
    settings["link_type"] = "link_and_dedupe"
    return MatcherModel(
        splink_settings=settings,
        version=version,
        trained_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
        training_data=training_data,
        training_records=int(n_records),
        seed=seed,
        splink_version=splink.__version__,
    )


def _remove_matches_from_u(settings: dict[str, Any]) -> None:
    """u values without the true matches that random sampling also drew, in place.

    Random pairs are mostly non-matches, but a share (the prior) are matches, and they land in the
    agreeing levels: observed u = (1 - prior) * u + prior * m. Uncorrected, no agreement could
    outweigh the prior, however rare it is among strangers.
    """
    prior = float(settings["probability_two_random_records_match"])
    for comparison in settings["comparisons"]:
        for lv in comparison["comparison_levels"]:
            m, u = lv.get("m_probability"), lv.get("u_probability")
            if isinstance(m, int | float) and isinstance(u, int | float):
                lv["u_probability"] = max(u - prior * m, 0.0) / (1 - prior)


def _floor_probabilities(settings: dict[str, Any], *, m_floor: float, u_floor: float) -> None:
    """Give every level at least `m_floor` of the matches and `u_floor` of the non-matches, in place.

    Levels never seen in training (no estimate) get the floor too, rather than Splink's defaults.
    """
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for key, floor in (("m_probability", m_floor), ("u_probability", u_floor)):
            values = [lv.get(key) for lv in levels]
            values = [max(v, floor) if isinstance(v, int | float) else floor for v in values]
            total = sum(values)
            for lv, value in zip(levels, values, strict=True):
                lv[key] = value / total


def _round_probabilities(settings: dict[str, Any], digits: int = 10) -> None:
    """Round to `digits` significant digits, in place: the database sums in parallel, so the last digits
    of an estimate vary from run to run, and a retrained model should differ only where the data does."""
    key = "probability_two_random_records_match"
    settings[key] = float(f"{settings[key]:.{digits}g}")
    for comparison in settings["comparisons"]:
        for lv in comparison["comparison_levels"]:
            for name in ("m_probability", "u_probability"):
                if isinstance(lv.get(name), float):
                    lv[name] = float(f"{lv[name]:.{digits}g}")
