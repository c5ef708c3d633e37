"""Fitting the matcher to the data at hand, automatically and on the record.

A matcher's numbers belong to the data. u values say how often two strangers agree by chance: a
regional shop's customers share a dozen towns and the country's common surnames, a national register
does not. m values say how one person's records differ: one source retypes birth dates, another
replaces whole names. Scoring one data set with numbers estimated on another over- or under-weights
every agreement and disagreement (FEBRL scored with the simulator's model loses a tenth of its true
pairs). So the build estimates the model on the records it is about to score, the way
`tessera train-matcher` does (`training.train_loaded`: u from random pairs, m and the prior by
expectation maximisation), and keeps the shipped model for data too small to estimate from.
Term frequencies need no fitting: Splink computes them from the records scored.

A fit is kept in a folder (`$TESSERA_HOME/matcher/`): the fitted model, every earlier version, and
`history.jsonl`, one line per fit saying when, why and on what. It is redone only when needed: on the
first build, when the shipped model changes, and when the data drifts, that is when the number of records
or the chance that two strangers agree on some attribute has moved by more than `DRIFT_FACTOR` since
the fit. A daily run with a few new records reuses the fit, so its scores stay put.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from transforms.identity.matching.model_file import MatcherModel
from transforms.identity.matching.training import train_loaded

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


def base_fingerprint(model: MatcherModel) -> str:
    """Identifies the shipped model a fit started from: any change to it calls for a new fit."""
    return hashlib.sha256(model.to_json().encode()).hexdigest()[:16]


class FittedModels:
    """The folder of fits: `person_model.json` (the current fit), `versions/`, `history.jsonl`."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @property
    def current_path(self) -> Path:
        return self.folder / "person_model.json"

    @property
    def history_path(self) -> Path:
        return self.folder / "history.jsonl"

    def history(self) -> list[dict[str, Any]]:
        if not self.history_path.exists():
            return []
        return [json.loads(line) for line in self.history_path.read_text(encoding="utf-8").splitlines() if line]

    def model_for(
        self, base: MatcherModel, cur: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]], *, seed: int = 42
    ) -> MatcherModel:
        """The model to score the prepared records with: the current fit, or a new one when it is due."""
        profile = profile_records(cur)
        if profile.records < MIN_RECORDS:
            log.info("matcher: %d records, too few to fit a model to; scoring with the shipped model", profile.records)
            return base
        reasons = self._refit_reasons(base, profile)
        if not reasons:
            return MatcherModel.load(self.current_path)
        model = fit(cur, tables, base, profile, seed=seed, version=len(self.history()) + 1)
        self._record(model, base, profile, reasons)
        log.warning("matcher: fitted to the data at hand, version %d (%s)", model.version, "; ".join(reasons))
        return model

    def _refit_reasons(self, base: MatcherModel, profile: DataProfile) -> list[str]:
        history = self.history()
        if not history or not self.current_path.exists():
            return ["first build"]
        last = history[-1]
        if last["base_fingerprint"] != base_fingerprint(base):
            return [f"the shipped model changed (version {last['base_version']} -> {base.version})"]
        return profile.drift_from(DataProfile(**last["profile"]))

    def _record(self, model: MatcherModel, base: MatcherModel, profile: DataProfile, reasons: list[str]) -> None:
        model.save(self.folder / "versions" / f"person_model.v{model.version:04d}.json")
        model.save(self.current_path)
        entry = {
            "version": model.version,
            "fitted_at": model.trained_at,
            "reasons": reasons,
            "base_version": base.version,
            "base_fingerprint": base_fingerprint(base),
            "profile": asdict(profile),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.history_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")


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
