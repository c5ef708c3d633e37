"""Probabilistic person matching: a Fellegi–Sunter model (Splink, on DuckDB) over profile records.

Deterministic stitching joins records that share an email, a phone or an id. People also turn up
under a stale email, with no email at all, as `Bob` in one system and `Robert` in another, with a
birth date typed day-first in one and month-first in the other. This module compares the profile
records of all sources with each other (link and dedupe: a CRM contact entered twice is found too)
and says how likely each candidate pair is the same person.

- `person_settings()` is the model: comparisons tuned for people, wide blocking rules.
- `train()` estimates its parameters from unlabelled records, repeatably for a given seed.
- `score()` scores records with a trained model and returns the pairs above a threshold, with the
  comparison level of every attribute, so an edge can say why it was made.

Records come in one shape (`RECORD_COLUMNS`): matching-ready values from staging (folded names,
parsed birth dates, normalised streets and postcodes, canonical emails, E.164 phones).
`profile_records_sql()` builds that shape from the staging models.
"""

from __future__ import annotations

import csv
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

log = logging.getLogger(__name__)

#: The columns a profile record brings to matching; all but `record_key` and `source_dataset` may be null.
RECORD_COLUMNS: dict[str, str] = {
    "record_key": "varchar",  # <source>:<stream>:<record_id>
    "source_dataset": "varchar",  # <source>_<stream>: which input table the record belongs to
    "first_name": "varchar",
    "last_name": "varchar",
    "birth_date": "date",
    "street": "varchar",
    "postcode": "varchar",
    "city": "varchar",
    "email": "varchar",
    "phone": "varchar",
}

#: Pairs any one of these rules puts side by side are scored. They overlap on purpose: a typo or a
#: gap in one attribute still leaves the pair to another rule (one rule alone misses a third of the
#: true pairs on FEBRL; these together miss 0.2 %). Prefixes (`left(..., 2)`) survive a typo later
#: in the word, and keep blocks small where a whole column (a postcode, a city) would not.
BLOCKING_RULES: tuple[str, ...] = (
    "l.first_name_group = r.first_name_group and l.last_name = r.last_name",
    "l.last_name = r.last_name and l.birth_date = r.birth_date",
    "l.first_name_group = r.first_name_group and l.birth_date = r.birth_date",
    "l.birth_date = r.birth_date and l.postcode = r.postcode",
    "l.birth_date = r.birth_date and l.city = r.city",
    "l.street = r.street and l.postcode = r.postcode",
    "l.street_number = r.street_number and left(l.street_name, 3) = left(r.street_name, 3)",
    "l.postcode = r.postcode and left(l.last_name, 2) = left(r.last_name, 2)",
    "l.postcode = r.postcode and left(l.first_name, 2) = left(r.first_name, 2)",
    "l.city = r.city and left(l.last_name, 2) = left(r.last_name, 2)",
    "l.first_name = r.last_name and l.last_name = r.first_name",
    "l.email = r.email",
    "l.email_local = r.email_local",
    "l.phone = r.phone",
)

#: Expectation maximisation runs once per rule; each estimates the comparisons the rule does not use.
TRAINING_BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("first_name", "last_name"),
    ("birth_date",),
)

#: Levels where two records agree on something one person has (a street line, an email, a phone):
#: among strangers they get rarer as the data grows, like the prior (see `sized_for`).
PER_PERSON_LEVELS: dict[str, tuple[str, ...]] = {
    "address": (
        "same address and last name",
        "street nearly equal, same house number and place, same last name",
        "same address, other or missing last name",
        "street nearly equal, same house number and place",
        "same street line elsewhere",
    ),
    "email": ("exact",),
    "phone": ("exact",),
}

#: The smallest share of true pairs a level may claim. Training data (simulated, or a few thousand
#: records) cannot show disagreements rarer than about 1 in 1,000 true pairs; without a floor such a
#: level would be "impossible for a match" and one stray birth date would veto any pair.
M_FLOOR = 1e-3

MODEL_FORMAT = "tessera-person-matcher"
#: Schema metadata key of `score()`'s result: how many candidate pairs the blocking rules produced.
PAIRS_COMPARED = "pairs_compared"


def person_comparisons() -> list[dict[str, Any]]:
    """How two people's attributes are compared, level by level, strongest first (Splink's JSON form)."""

    def level(sql: str, label: str, **extra: Any) -> dict[str, Any]:
        return {"sql_condition": sql, "label_for_charts": label, **extra}

    def null_level(*columns: str) -> dict[str, Any]:
        sql = " or ".join(f"{c}_l is null or {c}_r is null" for c in columns)
        return level(sql, "missing on either side", is_null_level=True)

    def exact(column: str, tf: bool = False) -> dict[str, Any]:
        extra = {"tf_adjustment_column": column, "tf_adjustment_weight": 1.0, "tf_minimum_u_value": 0.001} if tf else {}
        return level(f"{column}_l = {column}_r", "exact", **extra)

    else_level = level("ELSE", "different")
    jw = "jaro_winkler_similarity"
    swapped = f"{jw}(first_name_l, last_name_r) >= 0.9 and {jw}(last_name_l, first_name_r) >= 0.9"

    first_name = [
        null_level("first_name"),
        exact("first_name", tf=True),
        level(swapped, "first and last name swapped (typos allowed)"),
        level("list_has_any(first_name_aliases_l, first_name_aliases_r)", "nickname"),
        level("damerau_levenshtein(first_name_l, first_name_r) <= 1", "one typo"),
        level(f"{jw}(first_name_l, first_name_r) >= 0.9", "jaro-winkler >= 0.9"),
        level(f"{jw}(first_name_l, first_name_r) >= 0.8", "jaro-winkler >= 0.8"),
        else_level,
    ]
    birth_date = [
        null_level("birth_date"),
        exact("birth_date"),
        level(
            "year(birth_date_l) = year(birth_date_r) and month(birth_date_l) = day(birth_date_r)"
            " and day(birth_date_l) = month(birth_date_r)",
            "day and month swapped",
        ),
        level(
            "damerau_levenshtein(strftime(birth_date_l, '%Y%m%d'), strftime(birth_date_r, '%Y%m%d')) <= 1",
            "one digit typed wrong",
        ),
        level(
            "year(birth_date_l) = year(birth_date_r) and month(birth_date_l) = month(birth_date_r)",
            "same year and month",
        ),
        level("abs(date_diff('day', birth_date_l, birth_date_r)) <= 365", "within a year"),
        else_level,
    ]
    # One comparison for the whole address: its parts move together (a person's street, postcode and
    # city agree or disagree as one), and counting them apart would count one fact three times.
    # People who share a home often share a last name too; where the address agrees, the last name
    # is judged here, with it, so a household's shared surname is not counted again on its own.
    same_address = "street_l = street_r and (postcode_l = postcode_r or city_l = city_r)"
    near_address = (
        "(street_number_l = street_number_r or street_number_l is null or street_number_r is null)"
        f" and {jw}(street_name_l, street_name_r) >= 0.88 and (postcode_l = postcode_r or city_l = city_r)"
    )
    same_last_name = "last_name_l = last_name_r"
    address = [
        level(
            "(street_l is null or street_r is null) and (postcode_l is null or postcode_r is null)",
            "missing on either side",
            is_null_level=True,
        ),
        level(f"{same_address} and {same_last_name}", "same address and last name"),
        level(
            f"{near_address} and {same_last_name}", "street nearly equal, same house number and place, same last name"
        ),
        level(same_address, "same address, other or missing last name"),
        level(near_address, "street nearly equal, same house number and place"),
        level("street_l = street_r", "same street line elsewhere"),
        level("postcode_l = postcode_r", "same postcode, other street"),
        level("city_l = city_r", "same city"),
        else_level,
    ]
    last_name = [
        # Evidence counted elsewhere is no evidence here: a swap (in first_name), an equal last name at
        # the same address (in address).
        level(
            f"last_name_l is null or last_name_r is null or ({swapped})"
            f" or (last_name_l = last_name_r and ({same_address} or {near_address}))",
            "missing on either side, swapped with the first name, or judged with the address",
            is_null_level=True,
        ),
        exact("last_name", tf=True),
        level("damerau_levenshtein(last_name_l, last_name_r) <= 1", "one typo"),
        level(f"{jw}(last_name_l, last_name_r) >= 0.9", "jaro-winkler >= 0.9"),
        level(f"{jw}(last_name_l, last_name_r) >= 0.8", "jaro-winkler >= 0.8"),
        else_level,
    ]
    # Only exact: mailbox names are made of the person's name (`john.smith42@`), so their likeness
    # repeats the name comparisons and would count one piece of evidence twice.
    email = [null_level("email"), exact("email"), else_level]
    phone = [null_level("phone"), exact("phone"), else_level]

    def comparison(name: str, description: str, levels: list[dict[str, Any]]) -> dict[str, Any]:
        return {"output_column_name": name, "comparison_description": description, "comparison_levels": levels}

    return [
        comparison("first_name", "first name: exact, nickname (seed `nicknames`), typos", first_name),
        comparison("last_name", "last name: exact, typos (at the same address: judged there)", last_name),
        comparison("birth_date", "birth date: exact, day/month swapped, a digit off, close", birth_date),
        comparison("address", "street line, postcode and city, as one address", address),
        comparison("email", "canonical email", email),
        comparison("phone", "E.164 phone", phone),
    ]


def person_settings() -> dict[str, Any]:
    """The untrained model: Splink settings for linking and deduplicating people across sources."""
    return {
        "link_type": "link_and_dedupe",
        "unique_id_column_name": "record_key",
        "comparisons": person_comparisons(),
        "blocking_rules_to_generate_predictions": list(BLOCKING_RULES),
        "probability_two_random_records_match": 1e-4,
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "em_convergence": 1e-4,
        "max_iterations": 25,
    }


# Nicknames -------------------------------------------------------------------------------------


def read_nicknames(path: str | Path) -> list[tuple[str, str]]:
    """(name, nickname) pairs from the `nicknames` seed file, folded like staging folds names."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [(row["name"], row["nickname"]) for row in csv.DictReader(fh)]


def name_aliases(pairs: Iterable[tuple[str, str]]) -> pa.Table:
    """Per known first name: the formal names it can stand for (itself included) and a blocking group.

    `bob` stands for {bob, robert}, `rob` for {rob, robert}: two names are nicknames of each other
    when these sets meet. The group joins every name linked through the seed (so `bob`, `rob`
    and `robert` share one), which only decides which pairs are compared at all.
    """
    formal_of: dict[str, set[str]] = {}
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for name, nickname in pairs:
        name, nickname = _fold(name), _fold(nickname)
        if not name or not nickname:
            continue
        formal_of.setdefault(name, set()).add(name)
        formal_of.setdefault(nickname, {nickname}).add(name)
        a, b = find(name), find(nickname)
        if a != b:
            parent[max(a, b)] = min(a, b)
    names = sorted(formal_of)
    return pa.table(
        {
            "name": pa.array(names, pa.string()),
            "aliases": pa.array([sorted(formal_of[n]) for n in names], pa.list_(pa.string())),
            "name_group": pa.array([find(n) for n in names], pa.string()),
        }
    )


def _fold(text: str | None) -> str:
    return " ".join((text or "").strip().lower().split())


# Input -----------------------------------------------------------------------------------------


def profile_records_sql(crm_contacts: str, email_subscribers: str, loyalty_members: str) -> str:
    """The profile records of every source in matching shape, from the three staging relations.

    ESP subscribers bring a name and an email only. `updated_at` comes along for the edges'
    `observed_at`.
    """
    return f"""
        select 'crm:contacts:' || contact_id as record_key, 'crm_contacts' as source_dataset,
            first_name_norm as first_name, last_name_norm as last_name, birth_date,
            street_norm as street, postcode_norm as postcode, city_norm as city,
            email_canonical as email, phone_e164 as phone, updated_at
        from {crm_contacts}
        union all
        select 'email:subscribers:' || subscriber_id, 'email_subscribers',
            first_name_norm, last_name_norm, cast(null as date),
            null, null, null,
            email_canonical, null, updated_at
        from {email_subscribers}
        union all
        select 'pos:loyalty_members:' || loyalty_id, 'pos_loyalty_members',
            first_name_norm, last_name_norm, birth_date,
            street_norm, postcode_norm, city_norm,
            email_canonical, phone_e164, updated_at
        from {loyalty_members}
    """


def _prepared_sql(records: str, aliases: str) -> str:
    """Records with what the comparisons need besides the values: nickname sets, house numbers, mailboxes."""
    columns = ", ".join(f"cast(r.{c} as {t}) as {c}" for c, t in RECORD_COLUMNS.items())
    return f"""
        select
            {columns},
            case when r.first_name is not null
                then coalesce(a.aliases, [cast(r.first_name as varchar)]) end as first_name_aliases,
            coalesce(a.name_group, r.first_name) as first_name_group,
            nullif(array_to_string(regexp_extract_all(r.street, '[0-9]+'), ' '), '') as street_number,
            nullif(trim(regexp_replace(regexp_replace(r.street, '[0-9]+', ' ', 'g'), '\\s+', ' ', 'g')), '')
                as street_name,
            nullif(split_part(r.email, '@', 1), '') as email_local
        from {records} as r
        left join {aliases} as a on a.name = r.first_name
    """


@contextmanager
def _scratch(con: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor whose default catalog is a private in-memory database, detached afterwards.

    Splink writes its working tables into the default schema; on a warehouse connection (a dbt
    Python model's session) they go here instead of the warehouse file.
    """
    if con is None:
        scratch = duckdb.connect()
        try:
            yield scratch
        finally:
            scratch.close()
        return
    cursor = con.cursor()
    home = cursor.execute("select current_database()").fetchall()[0][0]
    name = f"tessera_matching_{uuid.uuid4().hex[:12]}"
    cursor.execute(f"attach ':memory:' as {name}").fetchall()
    cursor.execute(f"use {name}").fetchall()
    try:
        yield cursor
    finally:
        cursor.execute(f'use "{home}"').fetchall()
        cursor.execute(f"detach {name}").fetchall()
        cursor.close()


def _load_inputs(
    cur: duckdb.DuckDBPyConnection, records: pa.Table | str, nicknames: Iterable[tuple[str, str]]
) -> list[str]:
    """Prepare the records in the scratch database, one table per source dataset; their names."""
    aliases = name_aliases(nicknames)
    cur.register("matching_name_aliases", aliases)
    if isinstance(records, str):
        source = records
    else:
        cur.register("matching_records_in", records)
        source = "matching_records_in"
    missing = set(RECORD_COLUMNS) - set(cur.sql(f"select * from {source} limit 0").columns)
    if missing:
        raise ValueError(f"profile records lack the columns {sorted(missing)} (see RECORD_COLUMNS)")
    cur.execute(f"create table matching_records as {_prepared_sql(source, 'matching_name_aliases')}").fetchall()
    datasets = [r[0] for r in cur.execute("select distinct source_dataset from matching_records order by 1").fetchall()]
    tables = []
    for i, dataset in enumerate(datasets):
        table = f"matching_input_{i}"
        cur.execute(
            f"create table {table} as select * exclude (source_dataset) from matching_records where source_dataset = ?",
            [dataset],
        ).fetchall()
        tables.append((table, dataset))
    return tables


def _linker(cur: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]], settings: dict[str, Any]):
    from splink import DuckDBAPI, Linker

    db_api = DuckDBAPI(connection=cur)
    inputs = [db_api.register(table, dataset_display_name=dataset) for table, dataset in tables]
    if len(inputs) == 1:  # Splink links and dedupes two or more tables; one alone is deduplicated
        settings = {**settings, "link_type": "dedupe_only"}
    return Linker(inputs if len(inputs) > 1 else inputs[0], settings, log_level=None)


# The model file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatcherModel:
    """A trained person matcher: Splink's settings with estimated m and u values, and their provenance."""

    splink_settings: dict[str, Any]
    version: int
    trained_at: str
    training_data: str
    training_records: int
    seed: int
    splink_version: str

    def to_json(self) -> str:
        header = {
            "format": MODEL_FORMAT,
            "version": self.version,
            "trained_at": self.trained_at,
            "training_data": self.training_data,
            "training_records": self.training_records,
            "seed": self.seed,
            "splink_version": self.splink_version,
        }
        return json.dumps({**header, "splink_settings": self.splink_settings}, indent=2) + "\n"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str = "model") -> MatcherModel:
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"{where}: not a person matcher model (format {doc.get('format')!r})")
        try:
            return cls(
                splink_settings=dict(doc["splink_settings"]),
                version=int(doc["version"]),
                trained_at=str(doc["trained_at"]),
                training_data=str(doc["training_data"]),
                training_records=int(doc["training_records"]),
                seed=int(doc["seed"]),
                splink_version=str(doc["splink_version"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad or missing header field: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> MatcherModel:
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"no matcher model at {path}; train one with `tessera train-matcher`") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(doc, where=str(path))


# Training --------------------------------------------------------------------------------------


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
    import splink
    from splink import block_on

    with _scratch(con) as cur:
        tables = _load_inputs(cur, records, nicknames)
        n_records = cur.execute("select count(*) from matching_records").fetchall()[0][0]
        if n_records < 100:
            raise ValueError(f"training needs at least 100 profile records, got {n_records}")
        linker = _linker(cur, tables, person_settings())
        training = linker.training
        training.estimate_u_using_random_sampling(
            max_pairs=max_u_pairs, seed=seed, min_count_per_level=None, num_chunks=1
        )
        for i, rule in enumerate(TRAINING_BLOCKING_RULES):
            training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule),
                estimate_without_term_frequencies=True,
                max_pairs=max_em_pairs,
                populate_probability_two_random_records_match_from_trained_values=i == len(TRAINING_BLOCKING_RULES) - 1,
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
        training_data=training_data or f"{n_records} profile records",
        training_records=int(n_records),
        seed=seed,
        splink_version=splink.__version__,
    )


# Scoring ---------------------------------------------------------------------------------------


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
    with _scratch(con) as cur:
        tables = _load_inputs(cur, records, nicknames)
        n_records = cur.execute("select count(*) from matching_records").fetchall()[0][0]
        if not tables:
            return _empty_pairs().replace_schema_metadata({PAIRS_COMPARED: "0"})
        settings = sized_for(model, n_records)
        settings["retain_matching_columns"] = True  # Splink outputs the gamma columns (match_detail) with them
        linker = _linker(cur, tables, settings)
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
