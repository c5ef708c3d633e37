"""Probabilistic person matching (transforms/identity/matching/): nicknames, birth-date noise, households,
repeatable training, the model file, and the shipped model scoring without training.

Scoring a handful of records alone would be meaningless: term frequencies and the prior come from
the data scored. Each case is therefore scored inside a seeded background crowd of strangers.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from tessera.resources import matcher_model_path, nicknames_path
from transforms.identity import matching

pytestmark = pytest.mark.unit

FIRST_NAMES = (
    "james john robert michael william david richard joseph thomas charles mary patricia jennifer linda "
    "elizabeth barbara susan jessica sarah karen lisa nancy betty margaret sandra ashley kimberly emily "
    "donna michelle carol amanda melissa deborah stephanie rebecca laura sharon cynthia kathleen amy "
    "anna brian kevin jason matthew gary timothy jose larry jeffrey frank scott eric stephen andrew "
    "raymond gregory joshua jerry dennis walter patrick peter harold douglas henry carl arthur ryan "
    "hans klaus jurgen uwe katharina petra sabine monika ursula pierre jean michel nathalie isabelle"
).split()
LAST_NAMES = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez "
    "wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark "
    "ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores green adams "
    "nelson baker hall rivera campbell mitchell carter roberts muller schmidt schneider fischer weber "
    "meyer wagner becker schulz hoffmann bernard dubois durand lefebvre moreau laurent simon michel"
).split()
STREETS = "oak maple cedar elm pine lake hill park main church high station mill river".split()
SUFFIXES = ("street", "road", "avenue", "lane", "drive")


def crowd(n: int, seed: int = 3) -> list[dict]:
    """`n` strangers, each a CRM contact, some also a loyalty member recorded with small slips."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for i in range(n):
        person = {
            "first_name": FIRST_NAMES[int(rng.zipf(1.6)) % len(FIRST_NAMES)],
            "last_name": LAST_NAMES[int(rng.zipf(1.4)) % len(LAST_NAMES)],
            "birth_date": date(1940, 1, 1).fromordinal(date(1940, 1, 1).toordinal() + int(rng.integers(0, 25_000))),
            "street": f"{int(rng.integers(1, 2000))} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}",
            "postcode": f"{int(rng.integers(10_000, 99_999))}",
            "city": f"town{int(rng.integers(0, 300))}",
        }
        email = f"p{i}@example.com"
        rows.append(record(f"crm:contacts:bg{i}", email=email, phone=f"+1555{i:07d}", **person))
        if rng.random() < 0.5:
            copy = dict(person)
            if rng.random() < 0.2:
                copy["birth_date"] = None
            if rng.random() < 0.1:
                copy["street"] = None
            rows.append(record(f"pos:loyalty_members:bg{i}", email=email if rng.random() < 0.7 else None, **copy))
    return rows


def record(record_key: str, **values) -> dict:
    source, stream, _ = record_key.split(":", 2)
    row = {column: None for column in matching.RECORD_COLUMNS}
    return {**row, "record_key": record_key, "source_dataset": f"{source}_{stream}", **values}


def as_table(rows: list[dict]) -> pa.Table:
    types = {"varchar": pa.string(), "date": pa.date32()}
    schema = pa.schema([(c, types[t]) for c, t in matching.RECORD_COLUMNS.items()])
    return pa.Table.from_pylist(rows, schema=schema)


@pytest.fixture(scope="module")
def background() -> list[dict]:
    return crowd(3000)


@pytest.fixture(scope="module")
def nicknames() -> list[tuple[str, str]]:
    return matching.read_nicknames(nicknames_path())


@pytest.fixture(scope="module")
def shipped() -> matching.MatcherModel:
    return matching.MatcherModel.load(matcher_model_path())


PERSON = {"last_name": "kowalczyk", "birth_date": date(1984, 5, 17), "street": "12 birch lane", "postcode": "30301"}
DATES = {"first_name": "marguerite", "last_name": "okonkwo", "street": "4 quay road", "postcode": "10115"}
HOME = {"last_name": "miller", "street": "27 elm drive", "postcode": "02134", "city": "town7"}
DANIEL = {"first_name": "daniel", "birth_date": date(1975, 9, 30), "email": "dm@example.com", **HOME}
BIRTH_DATE_NOISE = {
    "swapped": (date(1984, 3, 7), date(1984, 7, 3), "day and month swapped"),
    "digit": (date(1984, 3, 7), date(1984, 3, 17), "one digit typed wrong"),
    "transposed": (date(1984, 3, 7), date(1948, 3, 7), "one digit typed wrong"),  # 1984 → 1948
    "month": (date(1984, 3, 7), date(1984, 3, 28), "same year and month"),
}

#: Every case: two records of one person, or of two people who must stay apart.
CASES: dict[str, tuple[dict, dict]] = {
    "nickname": (
        record("crm:contacts:n1", first_name="elizabeth", email="ek@example.com", **PERSON),
        record("pos:loyalty_members:n1", first_name="liz", **PERSON),
    ),
    "day_month_typed_the_other_way": (
        record(
            "crm:contacts:t1",
            first_name="tobias",
            last_name="wainwright",
            birth_date=date(1990, 4, 11),
            street="8 mill lane",
            postcode="60311",
        ),
        record(
            "pos:loyalty_members:t1",
            first_name="tobias",
            last_name="wainwright",
            birth_date=date(1990, 11, 4),
            street="8 mill lane",
            postcode="60311",
        ),
    ),
    **{
        f"birth_date_{name}": (
            record(f"crm:contacts:d{i}", birth_date=left, **{**DATES, "first_name": f"marguerite{'x' * i}"}),
            record(f"pos:loyalty_members:d{i}", birth_date=right, **{**DATES, "first_name": f"marguerite{'x' * i}"}),
        )
        for i, (name, (left, right, _)) in enumerate(BIRTH_DATE_NOISE.items())
    },
    "household": (
        record("crm:contacts:h1", **DANIEL),
        record("pos:loyalty_members:h2", first_name="helen", birth_date=date(1979, 2, 14), **HOME),
    ),
    "household_one_birth_date_missing": (
        record("crm:contacts:h1", **DANIEL),
        record("email:subscribers:h4", first_name="helen", last_name="miller"),
    ),
    "household_address_one_birth_date_missing": (
        record("crm:contacts:h1", **DANIEL),
        record("crm:contacts:h5", first_name="helen", **HOME),
    ),
    "same_person_at_that_home": (
        record("crm:contacts:h1", **DANIEL),
        record("pos:loyalty_members:h3", first_name="dan", birth_date=date(1975, 9, 30), **HOME),
    ),
    "duplicate_in_one_source": (
        record(
            "crm:contacts:c1",
            first_name="william",
            email="wf@example.com",
            last_name="fairweather",
            birth_date=date(1961, 12, 1),
            street="3 cedar road",
            postcode="75011",
        ),
        record(
            "crm:contacts:c2",
            first_name="bill",
            email="bill.f@example.com",
            last_name="fairweather",
            birth_date=date(1961, 12, 1),
            street="3 cedar road",
            postcode="75011",
        ),
    ),
}


@pytest.fixture(scope="module")
def scored(background, shipped, nicknames) -> dict[str, dict]:
    """Each case's pair, scored once among the background crowd (probability 0: never compared)."""
    cases = {r["record_key"]: r for a, b in CASES.values() for r in (a, b)}
    pairs = matching.score(as_table([*background, *cases.values()]), shipped, 0.0, nicknames=nicknames)
    by_keys = {(p["record_key_a"], p["record_key_b"]): p for p in pairs.to_pylist()}
    missing = {"match_probability": 0.0, "match_detail": "{}"}
    return {
        name: by_keys.get(tuple(sorted((a["record_key"], b["record_key"]))), missing) for name, (a, b) in CASES.items()
    }


# Nicknames -------------------------------------------------------------------------------------


def test_the_nickname_seed_is_a_few_hundred_folded_pairs():
    with open(nicknames_path(), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    pairs = [(r["name"], r["nickname"]) for r in rows]
    assert len(pairs) >= 300
    assert len(set(pairs)) == len(pairs)
    assert {r["language"] for r in rows} == {"en", "de", "fr"}
    assert all(v == v.strip().lower() and v.isascii() and v for pair in pairs for v in pair)


def test_nicknames_meet_through_the_formal_name(nicknames):
    aliases = {row["name"]: row for row in matching.name_aliases(nicknames).to_pylist()}
    assert set(aliases["bob"]["aliases"]) & set(aliases["robert"]["aliases"])
    assert set(aliases["bob"]["aliases"]) & set(aliases["rob"]["aliases"])  # two nicknames of one name
    assert set(aliases["hannes"]["aliases"]) & set(aliases["johannes"]["aliases"])
    assert not set(aliases["bob"]["aliases"]) & set(aliases["bill"]["aliases"])
    assert aliases["bob"]["name_group"] == aliases["robert"]["name_group"]


def test_a_nickname_with_the_same_birth_date_and_address_is_a_match(scored):
    assert json.loads(scored["nickname"]["match_detail"])["first_name"]["level"] == "nickname"
    assert scored["nickname"]["match_probability"] >= 0.99


# Birth dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(BIRTH_DATE_NOISE))
def test_birth_date_noise_lands_in_its_own_level(scored, case):
    level = BIRTH_DATE_NOISE[case][2]
    assert json.loads(scored[f"birth_date_{case}"]["match_detail"])["birth_date"]["level"] == level


def test_day_and_month_typed_the_other_way_round_still_match(scored):
    assert scored["day_month_typed_the_other_way"]["match_probability"] >= 0.99


# Households ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["household", "household_one_birth_date_missing", "household_address_one_birth_date_missing"]
)
def test_two_people_sharing_a_home_and_a_surname_do_not_match(scored, case):
    assert scored[case]["match_probability"] < 0.5


def test_the_same_person_at_that_home_does_match(scored):
    assert scored["same_person_at_that_home"]["match_probability"] >= 0.99


def test_a_duplicate_inside_one_source_is_found(scored):
    assert scored["duplicate_in_one_source"]["match_probability"] >= 0.99


# Scoring output --------------------------------------------------------------------------------


def test_score_returns_each_pair_once_with_its_levels(background, shipped, nicknames):
    pairs = matching.score(as_table(background), shipped, 0.95, nicknames=nicknames)
    assert pairs.column_names == ["record_key_a", "record_key_b", "match_probability", "match_weight", "match_detail"]
    rows = pairs.to_pylist()
    assert rows and all(r["record_key_a"] < r["record_key_b"] and r["match_probability"] >= 0.95 for r in rows)
    detail = json.loads(rows[0]["match_detail"])
    assert set(detail) == {"first_name", "last_name", "birth_date", "address", "email", "phone"}
    assert all(set(level) == {"gamma", "level"} for level in detail.values())
    # The crowd's loyalty records are copies of its contacts: nearly all of them are found.
    copies = sum(1 for r in background if r["record_key"].startswith("pos:"))
    same = sum(1 for r in rows if r["record_key_a"].split(":")[-1] == r["record_key_b"].split(":")[-1])
    assert same == len(rows) and same >= 0.95 * copies
    # Where the time went, step by step, for the run's log.
    steps = json.loads(pairs.schema.metadata[matching.STEP_SECONDS.encode()])
    assert list(steps) == ["records", "fit", "blocking plan", "candidate pairs", "scoring", "matches"]
    assert all(seconds >= 0 for seconds in steps.values())


def test_scoring_nothing_gives_no_pairs(shipped, nicknames):
    assert matching.score(as_table([]), shipped, 0.95, nicknames=nicknames).num_rows == 0


def test_profile_records_are_read_in_their_folded_forms():
    """`int_profile_records` carries each value twice; matching reads the folded form under its own name."""
    con = duckdb.connect()
    con.execute(
        """
        create table int_profile_records as select
            'pos:loyalty_members:L1' as record_key, 'pos' as source, 'loyalty_members' as stream, 'L1' as record_id,
            timestamptz '2026-01-02 10:00:00+00' as updated_at,
            'robert' as first_name_norm, 'Robert' as first_name, 'muller' as last_name_norm, 'Müller' as last_name,
            date '1984-05-17' as birth_date, '12 birch lane' as street_norm, '12 Birch Ln.' as street,
            '30301' as postcode_norm, '30301 ' as postcode, 'atlanta' as city_norm, 'Atlanta' as city,
            'bobmuller@gmail.com' as email_canonical, 'bob.muller+shop@gmail.com' as email,
            '+14045550100' as phone_e164, 'US' as country, null as company
        """
    )
    records = con.sql(matching.matching_records_sql("int_profile_records"))
    assert records.columns == [*matching.RECORD_COLUMNS, "updated_at"]
    row = dict(zip(records.columns, records.fetchall()[0], strict=True))
    assert {k: v for k, v in row.items() if k != "updated_at"} == {
        "record_key": "pos:loyalty_members:L1",
        "source_dataset": "pos_loyalty_members",
        "first_name": "robert",
        "last_name": "muller",
        "birth_date": date(1984, 5, 17),
        "street": "12 birch lane",
        "postcode": "30301",
        "city": "atlanta",
        "email": "bobmuller@gmail.com",
        "phone": "+14045550100",
    }


def test_records_missing_a_column_are_refused_with_its_name(shipped, nicknames):
    table = as_table([]).drop_columns(["birth_date"])
    with pytest.raises(ValueError, match="birth_date"):
        matching.score(table, shipped, 0.95, nicknames=nicknames)


def test_the_prior_and_per_person_agreements_scale_with_the_number_of_records(shipped):
    def level(settings, comparison, label):
        by_name = {c["output_column_name"]: c for c in settings["comparisons"]}
        return next(lv for lv in by_name[comparison]["comparison_levels"] if lv["label_for_charts"] == label)

    trained = shipped.splink_settings
    same = matching.sized_for(shipped, shipped.training_records)
    bigger = matching.sized_for(shipped, 10 * shipped.training_records - 9)
    key = "probability_two_random_records_match"
    assert same[key] == pytest.approx(trained[key])
    assert bigger[key] == pytest.approx(trained[key] / 10)
    email = level(trained, "email", "exact")["u_probability"]
    assert level(bigger, "email", "exact")["u_probability"] == pytest.approx(email / 10, rel=1e-3)
    name = level(trained, "first_name", "exact")["u_probability"]
    assert level(bigger, "first_name", "exact")["u_probability"] == pytest.approx(name)


def test_every_per_person_level_is_a_level_of_the_model():
    labels = {
        (c["output_column_name"], lv["label_for_charts"])
        for c in matching.person_comparisons()
        for lv in c["comparison_levels"]
    }
    assert {(c, label) for c, ls in matching.PER_PERSON_LEVELS.items() for label in ls} <= labels


# Training and the model file -------------------------------------------------------------------


def test_training_is_repeatable_for_a_seed(background, nicknames):
    records = as_table(background)
    first = matching.train(records, nicknames, seed=7, max_u_pairs=2e5)
    second = matching.train(records, nicknames, seed=7, max_u_pairs=2e5)
    assert _probabilities(first) == pytest.approx(_probabilities(second), rel=1e-9)
    assert first.seed == 7 and first.training_records == len(background)
    levels = [lv for c in first.splink_settings["comparisons"] for lv in c["comparison_levels"]]
    assert all(
        0 < lv["m_probability"] <= 1 and 0 < lv["u_probability"] <= 1 for lv in levels if not lv.get("is_null_level")
    )


def _probabilities(model: matching.MatcherModel) -> list[float]:
    settings = model.splink_settings
    values = [settings["probability_two_random_records_match"]]
    for comparison in settings["comparisons"]:
        for lv in comparison["comparison_levels"]:
            values += [lv.get("m_probability", -1.0), lv.get("u_probability", -1.0)]
    return values


def test_the_model_file_round_trips_and_bad_files_are_named(tmp_path, shipped):
    path = shipped.save(tmp_path / "model.json")
    assert matching.MatcherModel.load(path) == shipped
    with pytest.raises(FileNotFoundError, match="tessera train-matcher"):
        matching.MatcherModel.load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text(json.dumps({"link_type": "dedupe_only"}))
    with pytest.raises(ValueError, match="other.json: not a person matcher model"):
        matching.MatcherModel.load(tmp_path / "other.json")


def test_the_shipped_model_is_trained_and_says_on_what(shipped):
    assert shipped.version >= 1 and shipped.seed == 42
    assert shipped.training_data.startswith("simulated world: 20,000 people")
    prior = shipped.splink_settings["probability_two_random_records_match"]
    assert 0 < prior < 1e-3 and not math.isclose(prior, 1e-4)  # estimated, not the untrained default
    names = [c["output_column_name"] for c in shipped.splink_settings["comparisons"]]
    assert names == [c["output_column_name"] for c in matching.person_comparisons()]


def test_train_matcher_without_a_warehouse_is_a_clear_error(home):
    from tessera.cli import app

    result = CliRunner().invoke(app, ["train-matcher"])
    assert result.exit_code == 1
    assert "run `tessera transform` first" in result.output and "Traceback" not in result.output
