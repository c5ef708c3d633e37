"""Probabilistic person matching: a Fellegi–Sunter model (Splink, on DuckDB or Spark) over profile records.

Deterministic stitching joins records that share an email, a phone or an id. People also turn up
under a stale email, with no email at all, as `Bob` in one system and `Robert` in another, with a
birth date typed day-first in one and month-first in the other. This package compares the profile
records of all sources with each other (link and dedupe: a CRM contact entered twice is found too)
and says how likely each candidate pair is the same person.

- `comparisons`: the untrained model: comparisons tuned for people, wide blocking rules, nicknames.
- `blocking_budget`: `plan_blocking()` counts the pairs each blocking rule would compare and tightens or
  skips a rule over a budget proportional to the records, so skewed data cannot make matching quadratic.
- `records`: the records matching reads (`RECORD_COLUMNS`, made from dbt's `int_profile_records`) and
  their preparation in a private scratch database where Splink works.
- `training`: `train()` estimates the model's parameters from unlabelled records, repeatably for a seed.
- `model_file`: `MatcherModel`, the trained model as a versioned file.
- `fitting`: `FittedModels`, the model fitted to the data at hand on the first build, versioned, refitted on drift.
- `scoring`: `score()` scores records with a trained model and returns the pairs above a threshold,
  with the comparison level of every attribute, so an edge can say why it was made.
- `spark_backend`: the same scoring with Splink on Spark (`score(..., spark=session)`), pair for pair.
"""

from transforms.identity.matching.blocking_budget import (
    DEFAULT_MAX_COMPARISONS_PER_RECORD,
    BlockingPlan,
    RuleDecision,
    plan_blocking,
)
from transforms.identity.matching.comparisons import (
    BLOCKING_RULES,
    PER_PERSON_LEVELS,
    name_aliases,
    person_comparisons,
    person_settings,
    read_nicknames,
)
from transforms.identity.matching.fitting import FittedModels
from transforms.identity.matching.model_file import MODEL_FORMAT, MatcherModel
from transforms.identity.matching.records import RECORD_COLUMNS, matching_records_sql
from transforms.identity.matching.scoring import (
    BLOCKING_PLAN,
    FIT_KEY,
    PAIRS_COMPARED,
    SCORED,
    STEP_SECONDS,
    describe_steps,
    score,
    sized_for,
)
from transforms.identity.matching.training import M_FLOOR, TRAINING_BLOCKING_RULES, train

__all__ = [
    "BLOCKING_PLAN",
    "BLOCKING_RULES",
    "DEFAULT_MAX_COMPARISONS_PER_RECORD",
    "FIT_KEY",
    "M_FLOOR",
    "MODEL_FORMAT",
    "PAIRS_COMPARED",
    "PER_PERSON_LEVELS",
    "RECORD_COLUMNS",
    "SCORED",
    "STEP_SECONDS",
    "TRAINING_BLOCKING_RULES",
    "BlockingPlan",
    "FittedModels",
    "MatcherModel",
    "RuleDecision",
    "describe_steps",
    "matching_records_sql",
    "name_aliases",
    "person_comparisons",
    "person_settings",
    "plan_blocking",
    "read_nicknames",
    "score",
    "sized_for",
    "train",
]
