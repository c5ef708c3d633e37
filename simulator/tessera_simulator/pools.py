"""Realistic building blocks (names, streets, cities, stores, products, browsers).

Faker is slow per call, so each pool is drawn once per seed and people are then
sampled from the pools with numpy: that is what lets 100k people initialize quickly.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from faker import Faker

from tessera_simulator.seeding import Purpose, rng_for

if TYPE_CHECKING:
    from tessera_simulator.regional import Region

COUNTRIES = ("US", "GB", "DE", "FR")
COUNTRY_WEIGHTS = np.array([0.60, 0.20, 0.12, 0.08])
LOCALES = {"US": "en_US", "GB": "en_GB", "DE": "de_DE", "FR": "fr_FR"}
CURRENCIES = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR"}
#: How many stores trade in each country.
STORES_PER_COUNTRY = {"US": 12, "GB": 6, "DE": 3, "FR": 3}
SHOP_DOMAIN = "www.fernhill.example"

#: Formal first names and the short forms people give instead.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Billy"),
    "Michael": ("Mike", "Mikey"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Richard": ("Rick", "Rich", "Dick"),
    "Thomas": ("Tom", "Tommy"),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
    "Joseph": ("Joe", "Joey"),
    "Anthony": ("Tony",),
    "Matthew": ("Matt",),
    "Nicholas": ("Nick",),
    "Jonathan": ("Jon",),
    "Alexander": ("Alex",),
    "Benjamin": ("Ben",),
    "Samuel": ("Sam",),
    "Charles": ("Charlie", "Chuck"),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Steven": ("Steve",),
    "Andrew": ("Andy", "Drew"),
    "David": ("Dave",),
    "Timothy": ("Tim",),
    "Elizabeth": ("Liz", "Beth", "Betty", "Eliza"),
    "Katherine": ("Kate", "Katie", "Kathy"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Jennifer": ("Jen", "Jenny"),
    "Patricia": ("Pat", "Patty", "Trish"),
    "Susan": ("Sue", "Suzy"),
    "Deborah": ("Deb", "Debbie"),
    "Rebecca": ("Becky", "Becca"),
    "Victoria": ("Vicky", "Tori"),
    "Jessica": ("Jess", "Jessie"),
    "Kimberly": ("Kim",),
    "Christine": ("Chris", "Tina"),
    "Abigail": ("Abby",),
    "Samantha": ("Sam",),
    "Johannes": ("Hannes",),
    "Katharina": ("Kathi", "Kati"),
    "Christian": ("Chris",),
    "Elisabeth": ("Lisa", "Sissi"),
    "Nicolas": ("Nico",),
    "Alexandre": ("Alex",),
    "Catherine": ("Cathy",),
    "Frédéric": ("Fred",),
    "Christophe": ("Chris",),
}
_FORMAL_EN_M = [n for n in list(NICKNAMES)[:22]]
_FORMAL_EN_F = [n for n in list(NICKNAMES)[22:36]]
FORMAL_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("US", "M"): tuple(_FORMAL_EN_M),
    ("US", "F"): tuple(_FORMAL_EN_F),
    ("GB", "M"): tuple(_FORMAL_EN_M),
    ("GB", "F"): tuple(_FORMAL_EN_F),
    ("DE", "M"): ("Johannes", "Christian", "Alexander", "Michael", "Thomas"),
    ("DE", "F"): ("Katharina", "Elisabeth"),
    ("FR", "M"): ("Nicolas", "Alexandre", "Frédéric", "Christophe"),
    ("FR", "F"): ("Catherine", "Elisabeth"),
}

EMAIL_DOMAINS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "US": (
        ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com", "comcast.net"),
        (0.38, 0.15, 0.10, 0.12, 0.10, 0.05, 0.10),
    ),
    "GB": (
        ("gmail.com", "hotmail.co.uk", "yahoo.co.uk", "outlook.com", "btinternet.com", "icloud.com", "sky.com"),
        (0.35, 0.15, 0.10, 0.15, 0.10, 0.10, 0.05),
    ),
    "DE": (("gmail.com", "gmx.de", "web.de", "t-online.de", "outlook.com"), (0.25, 0.25, 0.25, 0.15, 0.10)),
    "FR": (("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net"), (0.35, 0.20, 0.15, 0.15, 0.15)),
}

_EN_STREET_WORDS = (
    "Main",
    "Oak",
    "Maple",
    "Park",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Church",
    "High",
    "Station",
    "Victoria",
    "Mill",
    "Pine",
    "Walnut",
    "Sunset",
    "Lincoln",
    "Jackson",
    "River",
)
_US_STREET_TYPES = (
    ("Street", "Avenue", "Road", "Drive", "Lane", "Boulevard", "Court", "Place"),
    (0.30, 0.22, 0.12, 0.12, 0.08, 0.06, 0.05, 0.05),
)
_GB_STREET_TYPES = (
    ("Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Gardens"),
    (0.30, 0.25, 0.12, 0.10, 0.08, 0.06, 0.05, 0.04),
)

USER_AGENTS_DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.80",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
)
USER_AGENTS_MOBILE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.6723.107 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
)

_PRODUCT_ADJECTIVES = (
    "Classic",
    "Slim",
    "Organic",
    "Everyday",
    "Merino",
    "Linen",
    "Waxed",
    "Quilted",
    "Relaxed",
    "Trail",
)
_PRODUCT_ITEMS = ("Tee", "Hoodie", "Chinos", "Jacket", "Sneakers", "Backpack", "Beanie", "Socks", "Shirt", "Dress")


@dataclass(frozen=True)
class CountryPools:
    """Names and places of one country, drawn once from Faker."""

    first_f: np.ndarray
    first_m: np.ndarray
    last: np.ndarray
    streets: np.ndarray
    cities: np.ndarray
    postcodes: np.ndarray
    companies: np.ndarray


@dataclass(frozen=True)
class Stores:
    """The retailer's shops: where POS transactions happen."""

    store_id: np.ndarray
    country: np.ndarray
    currency: np.ndarray
    receipt_email: np.ndarray


@dataclass(frozen=True)
class Products:
    """The catalogue that web pages, add-to-carts and email clicks point at."""

    product_id: np.ndarray
    name: np.ndarray
    slug: np.ndarray
    price: np.ndarray


@dataclass(frozen=True)
class Pools:
    countries: dict[str, CountryPools]
    stores: Stores
    products: Products
    #: The regional world's towns and name weights; None in the diverse world.
    region: Region | None = None


def slugify(text: str) -> str:
    """ASCII, lowercase, dash-separated: how names become hosts and URL paths."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _streets(fake: Faker, country: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if country in ("US", "GB"):
        types, weights = _US_STREET_TYPES if country == "US" else _GB_STREET_TYPES
        words = [fake.last_name() if i % 2 else _EN_STREET_WORDS[i // 2 % len(_EN_STREET_WORDS)] for i in range(n)]
        chosen = rng.choice(len(types), size=n, p=np.array(weights) / sum(weights))
        return np.array([f"{w} {types[t]}" for w, t in zip(words, chosen, strict=True)], dtype=object)
    return np.array([fake.street_name() for _ in range(n)], dtype=object)


def _country_pools(seed: int, country: str, rng: np.random.Generator) -> CountryPools:
    fake = Faker(LOCALES[country])
    fake.seed_instance(seed)

    def draw(fn, n: int) -> np.ndarray:
        return np.array([fn() for _ in range(n)], dtype=object)

    return CountryPools(
        first_f=draw(fake.first_name_female, 300),
        first_m=draw(fake.first_name_male, 300),
        last=draw(fake.last_name, 600),
        streets=_streets(fake, country, rng, 400),
        cities=draw(fake.city, 250),
        postcodes=draw(fake.postcode, 500),
        companies=draw(fake.company, 250),
    )


#: A store's default receipt address, which cashiers type in for shoppers who give none.
STORE_RECEIPT_EMAIL = "receipts@fernhill-{town}.example"


def _stores(pools: dict[str, CountryPools]) -> Stores:
    ids, countries, emails = [], [], []
    for country, count in STORES_PER_COUNTRY.items():
        for i in range(count):
            number = len(ids) + 1
            city = pools[country].cities[i * 7 % len(pools[country].cities)]
            ids.append(f"ST{number:03d}")
            countries.append(country)
            emails.append(STORE_RECEIPT_EMAIL.format(town=slugify(city)))
    return Stores(
        store_id=np.array(ids, dtype=object),
        country=np.array(countries, dtype=object),
        currency=np.array([CURRENCIES[c] for c in countries], dtype=object),
        receipt_email=np.array(emails, dtype=object),
    )


def _products(rng: np.random.Generator) -> Products:
    names = [f"{a} {i}" for a in _PRODUCT_ADJECTIVES for i in _PRODUCT_ITEMS]
    prices = np.round(np.exp(rng.normal(np.log(45), 0.6, size=len(names))), 0) - 0.01
    return Products(
        product_id=np.array([f"SKU-{10000 + 37 * k}" for k in range(len(names))], dtype=object),
        name=np.array(names, dtype=object),
        slug=np.array([slugify(n) for n in names], dtype=object),
        price=np.maximum(prices, 4.99),
    )


@lru_cache(maxsize=4)
def build_pools(seed: int) -> Pools:
    """All pools for one seed (cached: pools never change for a seed)."""
    rng = rng_for(seed, Purpose.POOLS)
    countries = {c: _country_pools(seed, c, rng) for c in COUNTRIES}
    return Pools(countries=countries, stores=_stores(countries), products=_products(rng))
