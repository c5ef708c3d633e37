"""The true persons behind all sources: who they are, where they live, how they behave.

A person is the unit of ground truth. Sources only ever see renderings of a person
(see `mess.py`); this module owns the canonical values and how they change over time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tessera_simulator.mess import strip_accents
from tessera_simulator.pools import COUNTRIES, COUNTRY_WEIGHTS, EMAIL_DOMAINS, FORMAL_NAMES, Pools
from tessera_simulator.seeding import hex_tokens, uuids
from tessera_simulator.timestamps import DAY_MS

if TYPE_CHECKING:
    from tessera_simulator.regional import Region

log = logging.getLogger(__name__)

#: Share of people each source knows, and how active they are.
IN_CRM, IN_ESP, IN_LOYALTY, SHOPPER, IN_WEB = 0.70, 0.60, 0.40, 0.88, 0.80
DAILY_SHOPPERS, DAILY_VISITORS = 0.02, 0.05
#: Daily chance that a person moves house, changes phone or changes email address.
MOVE_RATE, NEW_PHONE_RATE, NEW_EMAIL_RATE = 0.0005, 0.0005, 0.0003
HOUSEHOLD_SHARE = 0.04
#: People leave, as the Pareto/NBD model has it: each person stays active for an exponential time after
#: signing up, at a dropout rate of their own, gamma-distributed across people (shape 2; a mean lifetime of
#: `MEAN_LIFETIME_DAYS`). Once gone they buy nothing and stay on every list: nobody tells the CRM they left.
#: Interest fades first: from `FADING_DAYS` before they leave, they visit the website and open e-mails a
#: fraction as often (`AFTER_LEAVING`).
LIFETIME_SHAPE, MEAN_LIFETIME_DAYS, FADING_DAYS, AFTER_LEAVING = 2.0, 390.0, 120, 0.1

_DE_MOBILE = ("151", "152", "157", "160", "162", "170", "171", "172", "175", "176", "177", "178", "179")


@dataclass(frozen=True)
class LifeEvents:
    """Positions of the people whose canonical details changed today."""

    moved: np.ndarray
    new_phone: np.ndarray
    new_email: np.ndarray


def person_ids(numbers: np.ndarray) -> list[str]:
    return [f"P{n:07d}" for n in numbers.tolist()]


def _ascii_token(text: str) -> str:
    return "".join(ch for ch in strip_accents(text).lower() if ch.isalnum())


def _phone_numbers(rng: np.random.Generator, countries: np.ndarray) -> np.ndarray:
    n = len(countries)
    us = [
        f"{a}{b}{c:04d}"
        for a, b, c in zip(
            rng.integers(201, 990, n), rng.integers(200, 1000, n), rng.integers(0, 10000, n), strict=True
        )
    ]
    gb = [f"7{v:09d}" for v in rng.integers(100_000_000, 1_000_000_000, n)]
    de_prefix = np.asarray(_DE_MOBILE, dtype=object)[rng.integers(0, len(_DE_MOBILE), n)]
    de = [
        f"{p}{v:07d}" if v < 10**7 else f"{p}{v:08d}"
        for p, v in zip(de_prefix, rng.integers(10**6, 10**8, n), strict=True)
    ]
    fr = [f"{m}{v:08d}" for m, v in zip(rng.choice([6, 7], n, p=[0.8, 0.2]), rng.integers(0, 10**8, n), strict=True)]
    by_country = {"US": us, "GB": gb, "DE": de, "FR": fr}
    return np.array([by_country[c][i] for i, c in enumerate(countries)], dtype=object)


def _email_locals(rng: np.random.Generator, first: np.ndarray, last: np.ndarray) -> list[str]:
    n = len(first)
    pattern = rng.choice(7, size=n, p=[0.30, 0.15, 0.15, 0.10, 0.05, 0.10, 0.15])
    digits = rng.integers(0, 100, n)
    out = []
    for f, la, p, d in zip(first, last, pattern, digits, strict=True):
        f, la = _ascii_token(f) or "x", _ascii_token(la) or "y"
        out.append(
            (f"{f}.{la}", f"{f}{la}", f"{f[0]}{la}", f"{f}_{la}{d:02d}", f"{la}.{f}", f"{f}{d:02d}", f"{f}.{la}{d}")[p]
        )
    return out


def _email_domains(rng: np.random.Generator, countries: np.ndarray) -> np.ndarray:
    out = np.empty(len(countries), dtype=object)
    for c in COUNTRIES:
        idx = np.flatnonzero(countries == c)
        domains, weights = EMAIL_DOMAINS[c]
        w = np.array(weights) / sum(weights)
        out[idx] = np.asarray(domains, dtype=object)[rng.choice(len(domains), len(idx), p=w)]
    return out


def new_emails(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, countries: np.ndarray, taken: set[str]
) -> np.ndarray:
    """Canonical lowercase addresses, unique mailboxes across everyone (`taken` is updated).

    Gmail ignores dots in the local part, so `ann.lee@gmail.com` and `annlee@gmail.com` are one mailbox
    and can never belong to two people: uniqueness is checked on the mailbox, not the spelling.
    """
    locals_ = _email_locals(rng, first, last)
    domains = _email_domains(rng, countries)
    extra = rng.integers(10, 10_000, len(locals_))
    out = np.empty(len(locals_), dtype=object)
    for i, (local, domain) in enumerate(zip(locals_, domains, strict=True)):
        email = f"{local}@{domain}"
        bump = int(extra[i])
        while mailbox(email) in taken:
            email = f"{local}{bump}@{domain}"
            bump += 7
        taken.add(mailbox(email))
        out[i] = email
    return out


def mailbox(email: str) -> str:
    """The mailbox an address delivers to (gmail drops dots in the local part)."""
    local, _, domain = email.partition("@")
    return f"{local.replace('.', '')}@{domain}" if domain in ("gmail.com", "googlemail.com") else email


def _addresses(
    pools: Pools, rng: np.random.Generator, countries: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(countries)
    street, city, postcode = (np.empty(n, dtype=object) for _ in range(3))
    for c in COUNTRIES:
        idx = np.flatnonzero(countries == c)
        cp = pools.countries[c]
        names = cp.streets[rng.integers(0, len(cp.streets), len(idx))]
        numbers = rng.integers(1, 2500 if c == "US" else 180, len(idx))
        street[idx] = [f"{s} {k}" if c == "DE" else f"{k} {s}" for s, k in zip(names, numbers, strict=True)]
        city[idx] = cp.cities[rng.integers(0, len(cp.cities), len(idx))]
        postcode[idx] = cp.postcodes[rng.integers(0, len(cp.postcodes), len(idx))]
    return street, city, postcode


@dataclass(frozen=True)
class _Identities:
    """Who new people are and where they live, before their contact details are made up."""

    countries: np.ndarray
    gender: np.ndarray
    first: np.ndarray
    last: np.ndarray
    company: np.ndarray
    street: np.ndarray
    city: np.ndarray
    postcode: np.ndarray
    household: np.ndarray


def _formal_first_names(
    first: np.ndarray, idx: np.ndarray, country: str, gender: str, rng: np.random.Generator
) -> None:
    """Give some people the formal name that a nickname stands for (Robert, not Rob), in place."""
    formal = FORMAL_NAMES[(country, gender)]
    share = 0.3 if country in ("US", "GB") else 0.12
    pick = idx[rng.random(len(idx)) < share]
    first[pick] = np.asarray(formal, dtype=object)[rng.integers(0, len(formal), len(pick))]


def _diverse_identities(pools: Pools, rng: np.random.Generator, n: int) -> _Identities:
    """People of four countries, each name and place drawn evenly from the country's pools."""
    countries = np.asarray(COUNTRIES, dtype=object)[rng.choice(len(COUNTRIES), n, p=COUNTRY_WEIGHTS)]
    gender = np.where(rng.random(n) < 0.5, "F", "M").astype(object)
    first, last, company = (np.empty(n, dtype=object) for _ in range(3))
    for c in COUNTRIES:
        cp = pools.countries[c]
        in_c = countries == c
        for g, pool in (("F", cp.first_f), ("M", cp.first_m)):
            idx = np.flatnonzero(in_c & (gender == g))
            first[idx] = pool[rng.integers(0, len(pool), len(idx))]
            _formal_first_names(first, idx, c, g, rng)
        idx = np.flatnonzero(in_c)
        last[idx] = cp.last[rng.integers(0, len(cp.last), len(idx))]
        company[idx] = cp.companies[rng.integers(0, len(cp.companies), len(idx))]
    company[rng.random(n) >= 0.45] = None
    street, city, postcode = _addresses(pools, rng, countries)
    return _Identities(countries, gender, first, last, company, street, city, postcode, np.full(n, -1, dtype="int64"))


def _regional_identities(pools: Pools, rng: np.random.Generator, n: int, first_position: int) -> _Identities:
    """People of one region: skewed names and towns, and households formed among them (see `regional.py`)."""
    region = pools.region
    shape = region.shape
    countries = np.full(n, shape.country, dtype=object)
    gender = np.where(rng.random(n) < 0.5, "F", "M").astype(object)
    first = region.draw_first_names(rng, gender)
    for g in ("F", "M"):
        _formal_first_names(first, np.flatnonzero(gender == g), shape.country, g, rng)
    last = region.draw_last_names(rng, n)
    companies = pools.countries[shape.country].companies
    company = companies[rng.integers(0, len(companies), n)]
    company[rng.random(n) >= 0.45] = None
    street, city, postcode = region.addresses(rng, n)
    household = _household_heads(rng, n, first_position, shape.household_share, shape.household_sizes)
    members = np.flatnonzero((household >= 0) & (household != first_position + np.arange(n)))
    heads = household[members] - first_position
    for arr in (street, city, postcode):
        arr[members] = arr[heads]
    same_name = members[rng.random(len(members)) < shape.household_surname]
    last[same_name] = last[household[same_name] - first_position]
    _distinct_first_names_at_home(region, rng, gender, first, household)
    return _Identities(countries, gender, first, last, company, street, city, postcode, household)


def _household_heads(
    rng: np.random.Generator, n: int, first_position: int, share: float, sizes: tuple[tuple[int, float], ...]
) -> np.ndarray:
    """For `n` new people at positions from `first_position`, their household head's position or -1:
    groups of the given sizes that hold about `share` of them, the first of each group its head."""
    household = np.full(n, -1, dtype="int64")
    values, odds = (np.array(v) for v in zip(*sizes, strict=True))
    target = rng.binomial(n, share)
    drawn = rng.choice(values, target // int(values.min()) + 1, p=odds / odds.sum())
    drawn = drawn[np.cumsum(drawn) <= target]
    members = rng.permutation(n)[: drawn.sum()]
    heads = members[np.cumsum(drawn) - drawn]
    household[members] = first_position + np.repeat(heads, drawn)
    return household


def _distinct_first_names_at_home(
    region: Region, rng: np.random.Generator, gender: np.ndarray, first: np.ndarray, household: np.ndarray
) -> None:
    """Redraw first names until no two people of one household share one (in place)."""
    at_home = np.flatnonzero(household >= 0)
    while True:
        clash = at_home[pd.DataFrame({"h": household[at_home], "f": first[at_home]}).duplicated().to_numpy()]
        if not len(clash):
            return
        first[clash] = region.draw_first_names(rng, gender[clash])


def _home_stores(pools: Pools, rng: np.random.Generator, countries: np.ndarray, city: np.ndarray) -> np.ndarray:
    """Each person's usual store: one of their country's, or their town's in the regional world."""
    if pools.region is not None:
        return pools.region.home_store_of(city)
    stores = pools.stores
    home_store = np.empty(len(countries), dtype=object)
    for c in COUNTRIES:
        idx = np.flatnonzero(countries == c)
        options = stores.store_id[stores.country == c]
        home_store[idx] = options[rng.integers(0, len(options), len(idx))]
    return home_store


def create_persons(
    pools: Pools, rng: np.random.Generator, first_number: int, created_ms: np.ndarray, taken_emails: set[str]
) -> pd.DataFrame:
    """`len(created_ms)` new people numbered from `first_number`, created at those moments.

    In the regional world they come with their households (the diverse world pairs people up once, at
    initialize, with `pair_households`), so each household member's email is made from their own name.
    """
    n = len(created_ms)
    if pools.region is None:
        who = _diverse_identities(pools, rng, n)
        loyalty_share = IN_LOYALTY
    else:
        who = _regional_identities(pools, rng, n, first_number - 1)
        loyalty_share = pools.region.shape.loyalty_share
    countries = who.countries
    created_days = np.asarray(created_ms, dtype="int64") // DAY_MS
    age_days = (rng.triangular(18, 30, 85, n) * 365.25).astype("int64")
    birth = (created_days - age_days).astype("datetime64[D]")
    shopper = rng.random(n) < SHOPPER
    in_web = rng.random(n) < IN_WEB
    home_store = _home_stores(pools, rng, countries, who.city)
    token1 = np.array([f"tok_{t}" for t in hex_tokens(rng, n)], dtype=object)
    token2 = np.array([f"tok_{t}" for t in hex_tokens(rng, n)], dtype=object)
    token2[rng.random(n) >= 0.35] = None
    numbers = np.arange(first_number, first_number + n)
    lifetime_ms = _lifetimes_ms(rng.spawn(1)[0], n)
    return pd.DataFrame(
        {
            "person_id": person_ids(numbers),
            "country": countries,
            "gender": who.gender,
            "first_name": who.first,
            "last_name": who.last,
            "email": new_emails(rng, who.first, who.last, countries, taken_emails),
            "phone": _phone_numbers(rng, countries),
            "birth_date": np.datetime_as_string(birth, unit="D").astype(object),
            "street": who.street,
            "city": who.city,
            "postcode": who.postcode,
            "company": who.company,
            "created_ms": np.asarray(created_ms, dtype="int64"),
            "leaves_ms": np.asarray(created_ms, dtype="int64") + lifetime_ms,
            "household": who.household,
            "in_crm": rng.random(n) < IN_CRM,
            "in_esp": rng.random(n) < IN_ESP,
            "in_loyalty": rng.random(n) < loyalty_share,
            "in_web": in_web,
            "shop_rate": shopper * rng.gamma(2.0, DAILY_SHOPPERS / SHOPPER / 2.0, n),
            "web_rate": in_web * rng.gamma(2.0, DAILY_VISITORS / IN_WEB / 2.0, n),
            "home_store": home_store,
            "token1": np.where(shopper, token1, None),
            "token2": np.where(shopper, token2, None),
        }
    )


def _lifetimes_ms(rng: np.random.Generator, n: int) -> np.ndarray:
    """How long each of `n` new people stays a customer, in ms (drawn from a generator of its own, so the
    people's other details are what they were before people left)."""
    dropout_per_day = rng.gamma(LIFETIME_SHAPE, 1.0 / ((LIFETIME_SHAPE - 1.0) * MEAN_LIFETIME_DAYS), n)
    return (rng.exponential(1.0 / dropout_per_day) * DAY_MS).astype("int64")


def active_on(persons: pd.DataFrame, day_ms: int, who: np.ndarray, fading: bool = False) -> np.ndarray:
    """Whether each person of `who` is still a customer at the start of the day (with `fading`: and not yet
    losing interest, which starts `FADING_DAYS` before they leave)."""
    leaves = persons["leaves_ms"].to_numpy()[who]
    return leaves > day_ms + (FADING_DAYS * DAY_MS if fading else 0)


def pair_households(persons: pd.DataFrame, rng: np.random.Generator, share: float = HOUSEHOLD_SHARE) -> None:
    """Make pairs of people share a home (and often a surname): the source of shared devices."""
    countries = persons["country"].to_numpy()
    household = persons["household"].to_numpy().copy()
    street, city, postcode = (persons[c].to_numpy().copy() for c in ("street", "city", "postcode"))
    last = persons["last_name"].to_numpy().copy()
    for c in COUNTRIES:
        idx = rng.permutation(np.flatnonzero(countries == c))
        k = int(len(idx) * share / 2)
        heads, partners = idx[: 2 * k : 2], idx[1 : 2 * k : 2]
        household[heads] = heads
        household[partners] = heads
        for arr in (street, city, postcode):
            arr[partners] = arr[heads]
        same_name = rng.random(len(partners)) < 0.6
        last[partners[same_name]] = last[heads[same_name]]
    persons["household"] = household
    persons["street"], persons["city"], persons["postcode"] = street, city, postcode
    persons["last_name"] = last


def create_devices(persons: pd.DataFrame, positions: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Browsers of web visitors: one or two each, plus one desktop per household that two or more of its
    members browse on (drawn in the order of each household's first non-head member, as pairs always were)."""
    positions = positions[persons["in_web"].to_numpy()[positions]]
    two = rng.random(len(positions)) < 0.4
    first_kind = np.where(rng.random(len(positions)) < 0.55, "mobile", "desktop")
    second_kind = np.where(first_kind[two] == "mobile", "desktop", "mobile")
    household = persons["household"].to_numpy()[positions]
    homes, browsing = np.unique(household[household >= 0], return_counts=True)
    sharing = np.isin(household, homes[browsing >= 2])
    joining = sharing & (household != positions)
    members, member_homes = positions[joining], household[joining]
    shared_homes = pd.unique(member_homes)
    heads = shared_homes[np.isin(shared_homes, positions)]
    shared = np.array(uuids(rng, len(shared_homes)), dtype=object)
    desktop = pd.Index(shared_homes)
    owner = np.concatenate([positions, positions[two], heads, members]).astype("int64")
    kind = np.concatenate([first_kind, second_kind, np.full(len(heads) + len(members), "desktop")]).astype(object)
    anon = np.concatenate(
        [
            np.array(uuids(rng, len(positions) + int(two.sum())), dtype=object),
            shared[desktop.get_indexer(heads)],
            shared[desktop.get_indexer(member_homes)],
        ]
    )
    n = len(owner)
    ua_pick = rng.random(n)
    ips = [
        f"{a}.{b}.{c}.{d}"
        for a, b, c, d in zip(
            rng.integers(24, 223, n),
            rng.integers(0, 256, n),
            rng.integers(0, 256, n),
            rng.integers(1, 255, n),
            strict=True,
        )
    ]
    frame = pd.DataFrame(
        {
            "anonymous_id": anon,
            "person": owner.astype("int64"),
            "kind": kind,
            "ua_pick": ua_pick,
            "ip": np.array(ips, dtype=object),
            "seen": np.zeros(n, dtype=bool),
        }
    )
    # Both people of a shared device see the same browser, so it has one user agent and IP.
    first = frame.groupby("anonymous_id", sort=False)[["ua_pick", "ip"]].transform("first")
    frame["ua_pick"], frame["ip"] = first["ua_pick"], first["ip"]
    return frame


def _move_households(
    persons: pd.DataFrame, region: Region, rng: np.random.Generator, moved: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A regional household moves together: everyone in a mover's household gets the new address.
    Returns who moves and, for each of them, the new street, town and postcode."""
    household = persons["household"].to_numpy()
    home = np.where(household >= 0, household, -1 - np.arange(len(household)))  # alone: a home of one's own
    homes = np.unique(home[moved])
    new = region.addresses(rng, len(homes))
    movers = np.flatnonzero(np.isin(home, homes))
    at = np.searchsorted(homes, home[movers])
    return movers, tuple(column[at] for column in new)


def apply_life_events(
    persons: pd.DataFrame, pools: Pools, rng: np.random.Generator, eligible: np.ndarray
) -> LifeEvents:
    """People move, change phone or change email; the canonical values change in place."""
    moved = eligible[rng.random(len(eligible)) < MOVE_RATE]
    new_phone = eligible[rng.random(len(eligible)) < NEW_PHONE_RATE]
    new_email = eligible[rng.random(len(eligible)) < NEW_EMAIL_RATE]
    countries = persons["country"].to_numpy()
    if len(moved):
        if pools.region is None:
            street, city, postcode = _addresses(pools, rng, countries[moved])
        else:
            moved, (street, city, postcode) = _move_households(persons, pools.region, rng, moved)
        persons.loc[moved, "street"] = street
        persons.loc[moved, "city"] = city
        persons.loc[moved, "postcode"] = postcode
    if len(new_phone):
        persons.loc[new_phone, "phone"] = _phone_numbers(rng, countries[new_phone])
    if len(new_email):
        taken = {mailbox(e) for e in persons["email"].tolist()}
        persons.loc[new_email, "email"] = new_emails(
            rng,
            persons["first_name"].to_numpy()[new_email],
            persons["last_name"].to_numpy()[new_email],
            countries[new_email],
            taken,
        )
    return LifeEvents(moved=moved, new_phone=new_phone, new_email=new_email)
