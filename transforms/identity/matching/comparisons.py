"""The untrained person matcher: how two people's attributes compare, which pairs are compared at all,
and the nickname sets the first-name comparison uses.

`person_settings()` is Splink's settings JSON for it; training (`training.py`) fills in the m and u
values. The comparisons read the columns `records.py` prepares: `RECORD_COLUMNS`, plus each
record's nickname set and blocking group, house number, street name and mailbox.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

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

#: Pairs that say outright they are two people: a different first name (not a nickname, a typo or a swap)
#: and birth dates more than a digit apart, both known. Members of one household share a surname, an
#: address, sometimes a phone and a device, and that much agreement can outweigh two disagreements in a
#: sum of weights; a wrong merge leaks one person's purchases and consent into another's profile, so such
#: a pair is never a match, whatever else it shares. A person's own records almost never disagree on both.
CONFLICTING_LEVELS: dict[str, tuple[str, ...]] = {
    "first_name": ("different",),
    "birth_date": ("same year and month", "within a year", "different"),
}

#: Levels that say something about the person rather than the home: a first name, a birth date, a mailbox,
#: a phone. Where the data holds households (`scoring.HOUSEHOLD_SHARE`), a pair must agree at one of these
#: levels to match: a shared street and surname, however rare among strangers, are also what two members
#: of one household share.
PERSONAL_LEVELS: dict[str, tuple[str, ...]] = {
    "first_name": (
        "exact",
        "first and last name swapped (typos allowed)",
        "nickname",
        "one typo",
        "jaro-winkler >= 0.9",
    ),
    "birth_date": ("exact", "day and month swapped", "one digit typed wrong"),
    "email": ("exact",),
    "phone": ("exact",),
}

#: Levels where two records agree on something one person has (a street line, an email, a phone):
#: among strangers they get rarer as the data grows, like the prior (see `scoring.sized_for`).
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
