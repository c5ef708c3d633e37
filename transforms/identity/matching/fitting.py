"""Fitting the matcher to the data at hand, automatically and on the record.

A matcher's numbers belong to the data. u values say how often two strangers agree by chance: a
regional shop's customers share a dozen towns and the country's common surnames, a national register
does not. m values say how one person's records differ: one source retypes birth dates, another
replaces whole names. Scoring one data set with numbers estimated on another over- or under-weights
every agreement and disagreement (FEBRL scored with the simulator's model loses a tenth of its true
pairs). So the build estimates the model on the records it is about to score, the way
`tessera train-matcher` does (`training.train_loaded`: u from random pairs, m and the prior by
expectation maximisation); data too small to estimate from gets the shipped model sized to it.

A fit freezes everything a score depends on besides the two records: the model sized to the data it was
made on, the term frequencies of that data, and whether that data holds households. A pair's score then
stays put from day to day, which is what lets a daily run score only the pairs of new and changed records
and still equal a full refresh.

Fits are kept in a folder (`$TESSERA_HOME/matcher/`): the current model, every version with its term
frequencies, and `history.jsonl`, one line per fit saying when, why, how and on what. A fit is redone only
when it is due: on the first build, when the shipped model changes, when sized data grows big enough to
estimate on, and when the data drifts, that is when the number of records or the chance that two
strangers agree on some attribute has moved by more than `DRIFT_FACTOR` since the fit.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from transforms.identity.matching.model_file import MatcherModel
from transforms.identity.matching.training import NoTrainingPairs, train_loaded
from transforms.model_versions import ModelVersions

log = logging.getLogger(__name__)

#: Refit when the records or a column's chance agreement among strangers grew or shrank by more than this.
DRIFT_FACTOR = 1.5
#: The columns whose chance agreement is watched for drift (the compared attributes).
PROFILED_COLUMNS = ("first_name", "last_name", "birth_date", "street", "postcode", "city", "email", "phone")
#: Data with fewer records than this is scored with the shipped model: too few pairs to estimate from.
MIN_RECORDS = 1000


@dataclass(frozen=True)
class DataProfile:
    """What a fit depends on: how many records, and per column the chance two random records agree on it
    (the sum of squared value shares among records that have the column: cheap, one group-by each)."""

    records: int
    agreement: dict[str, float]

    def drift_from(self, fitted: DataProfile) -> list[str]:
        """Why this data no longer suits a fit made on `fitted` (empty when it still does)."""
        reasons = []
        if _moved(self.records, fitted.records):
            reasons.append(f"records {fitted.records:,} -> {self.records:,}")
        for column, now in self.agreement.items():
            then = fitted.agreement.get(column)
            if then is not None and _moved(now, then):
                reasons.append(f"chance agreement on {column} {then:.2g} -> {now:.2g}")
        return reasons


def _moved(now: float, then: float) -> bool:
    if now <= 0 or then <= 0:
        return (now > 0) != (then > 0)
    return abs(math.log(now / then)) > math.log(DRIFT_FACTOR)


def profile_records(cur: duckdb.DuckDBPyConnection, table: str = "matching_records") -> DataProfile:
    """The data profile of the prepared records (`records.load_records` makes `matching_records`)."""
    (records,) = cur.execute(f"select count(*) from {table}").fetchall()[0]
    agreement = {}
    for column in PROFILED_COLUMNS:
        (value,) = cur.execute(
            f"""select coalesce(sum(n * n) / nullif(sum(n) * sum(n), 0), 0)
                from (select count(*)::double as n from {table} where {column} is not null group by {column})"""
        ).fetchall()[0]
        agreement[column] = round(float(value), 8)
    return DataProfile(records=int(records), agreement=agreement)


def model_fingerprint(model: MatcherModel) -> str:
    """Identifies a model by its content: the shipped model a fit started from, or the fit scores came from."""
    return hashlib.sha256(model.to_json().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Fit:
    """What a build scores with: a model sized to the data it was fitted on, and the term frequencies of
    that data. Scores are then a function of the two records and the fit alone, so a pair scored on
    Monday keeps its score on Tuesday, and a daily run that scores only new records equals a full refresh."""

    model: MatcherModel
    term_frequencies: Path | None
    #: `scoring.household_share` of the data the fit was made on: whether a match needs personal evidence.
    household_share: float

    @property
    def key(self) -> str:
        return f"v{self.model.version}-{model_fingerprint(self.model)}"


class FittedModels(ModelVersions):
    """The folder of fits: `person_model.json` (the current fit), `versions/`, `history.jsonl`."""

    CURRENT = "person_model.json"

    def fit_for(
        self, base: MatcherModel, cur: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]], *, seed: int = 42
    ) -> Fit:
        """The fit to score the prepared records with: the current one, or a new one when it is due.

        Data of at least `MIN_RECORDS` records gets a model estimated on it; smaller data gets the shipped
        model sized to it (`scoring.sized_for`). Either way the fit is frozen until it is due again.
        """
        profile = profile_records(cur)
        history = self.history()
        reasons = self._refit_reasons(base, profile, history)
        if not reasons:
            return self._load(history[-1])
        version = len(history) + 1
        model, method = None, "sized"
        if profile.records >= MIN_RECORDS:
            try:
                model, method = fit(cur, tables, base, profile, seed=seed, version=version), "estimated"
            except NoTrainingPairs as exc:  # the shipped model, sized to the data, still scores what it has
                reasons = [*reasons, f"not estimated: {exc}"]
        if model is None:
            model = sized(base, profile, version=version)
        entry = self._record(model, base, profile, reasons, method, cur)
        log.warning(
            "matcher: fit version %d %s on %d records (%s)", version, method, profile.records, "; ".join(reasons)
        )
        return self._load(entry)

    def _refit_reasons(self, base: MatcherModel, profile: DataProfile, history: list[dict[str, Any]]) -> list[str]:
        if not history or not self.current_path.exists():
            return ["first build"]
        last = history[-1]
        if last["base_fingerprint"] != model_fingerprint(base):
            return [f"the shipped model changed (version {last['base_version']} -> {base.version})"]
        if last["method"] == "sized" and profile.records >= MIN_RECORDS:
            return [f"{profile.records:,} records: enough to estimate a model on"]
        return profile.drift_from(DataProfile(**last["profile"]))

    def _load(self, entry: dict[str, Any]) -> Fit:
        model = MatcherModel.load(self.folder / entry["model"])
        frequencies = self.folder / entry["term_frequencies"]
        return Fit(
            model=model,
            term_frequencies=frequencies if frequencies.exists() else None,
            household_share=float(entry["household_share"]),
        )

    def _record(
        self,
        model: MatcherModel,
        base: MatcherModel,
        profile: DataProfile,
        reasons: list[str],
        method: str,
        cur: duckdb.DuckDBPyConnection,
    ) -> dict[str, Any]:
        versions = self.folder / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        model_file = versions / f"person_model.v{model.version:04d}.json"
        frequencies = versions / f"term_frequencies.v{model.version:04d}.parquet"
        model.save(model_file)
        write_term_frequencies(cur, model, frequencies)
        from transforms.identity.matching.scoring import household_share

        model.save(self.current_path)
        entry = {
            "version": model.version,
            "fitted_at": model.trained_at,
            "method": method,
            "reasons": reasons,
            "base_version": base.version,
            "base_fingerprint": model_fingerprint(base),
            "model": str(model_file.relative_to(self.folder)),
            "term_frequencies": str(frequencies.relative_to(self.folder)),
            "profile": asdict(profile),
            "household_share": round(household_share(cur), 6),
        }
        self.append_history(entry)
        return entry


def term_frequency_columns(model: MatcherModel) -> list[str]:
    """The columns whose exact agreement the model weighs by how common the value is."""
    return sorted(
        {
            lv["tf_adjustment_column"]
            for c in model.splink_settings["comparisons"]
            for lv in c["comparison_levels"]
            if lv.get("tf_adjustment_column")
        }
    )


def term_frequencies_sql(column: str, table: str = "matching_records") -> str:
    """A column's term frequencies as Splink computes them: each value's share of the non-null values."""
    return f"""
        select {column}, cast(count(*) as double) / (select count({column}) from {table}) as tf_{column}
        from {table} where {column} is not null group by {column}
    """


def write_term_frequencies(cur: duckdb.DuckDBPyConnection, model: MatcherModel, path: Path) -> None:
    """The prepared records' term frequencies for the model's columns, one Parquet file (column, value, tf)."""
    parts = [
        f"select '{c}' as column_name, cast({c} as varchar) as value, tf_{c} as tf from ({term_frequencies_sql(c)})"
        for c in term_frequency_columns(model)
    ]
    query = (
        " union all ".join(parts)
        if parts
        else "select null::varchar as column_name, null::varchar as value, null::double as tf limit 0"
    )
    tmp = path.with_name(f".{path.name}.tmp")
    cur.execute(f"copy ({query}) to ? (format parquet)", [str(tmp)]).fetchall()  # a path may hold quotes
    tmp.replace(path)


def sized(base: MatcherModel, profile: DataProfile, *, version: int) -> MatcherModel:
    """The shipped model sized to data too small to estimate a model on."""
    from transforms.identity.matching.scoring import sized_for

    return replace(
        base,
        splink_settings=sized_for(base, profile.records),
        version=version,
        trained_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
        training_data=f"shipped model version {base.version}, sized to {profile.records:,} records",
        training_records=profile.records,
    )


def fit(
    cur: duckdb.DuckDBPyConnection,
    tables: list[tuple[str, str]],
    base: MatcherModel,
    profile: DataProfile,
    *,
    seed: int,
    version: int,
) -> MatcherModel:
    """A model estimated on the prepared records, with the shipped model's seed handling and floors."""
    return train_loaded(
        cur,
        tables,
        profile.records,
        seed=seed,
        training_data=f"fitted to {profile.records:,} records of this warehouse (shipped model version {base.version})",
        version=version,
    )
