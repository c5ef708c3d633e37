"""The regional world: the customers of a shop that trades in a dozen towns of one country.

Identity resolution looks easy when everybody has a rare surname and lives in a different city. Real retail
data is skewed: strangers share the town, the postcode and often the street and the surname, households
share an address and a browser, and many shoppers pay by card without ever showing a loyalty card. Every
setting of that world lives in `RegionalShape`; `Region` is what one seed draws from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from tessera_simulator.pools import CURRENCIES, STORE_RECEIPT_EMAIL, CountryPools, Pools, Stores, build_pools, slugify
from tessera_simulator.pos import TillHabits
from tessera_simulator.seeding import Purpose, rng_for


@dataclass(frozen=True)
class Skew:
    """Zipf–Mandelbrot weights, `(rank + offset) ** -exponent`: the offset flattens the head, so the most
    common name holds a few percent of people, as Smith or Müller do, rather than the tenth pure Zipf gives."""

    exponent: float
    offset: float

    def weights(self, n: int) -> np.ndarray:
        w = (np.arange(1, n + 1) + self.offset) ** -self.exponent
        return w / w.sum()


@dataclass(frozen=True)
class RegionalShape:
    """The settings of the regional world, all in one place."""

    #: One country: a regional shop's customers live near it (and its tills take one currency).
    country: str = "GB"
    towns: int = 12
    #: Town sizes follow Zipf over the dozen towns: the biggest holds ~32 % of people.
    town_sizes: Skew = Skew(exponent=1.0, offset=0.0)
    postcodes_per_town: tuple[int, int] = (1, 3)
    streets_per_town: tuple[int, int] = (30, 60)
    house_numbers: int = 150
    #: One store in each of the biggest towns; people of the other towns shop in the biggest.
    stores: int = 6
    surnames: Skew = Skew(exponent=1.1, offset=3.0)
    first_names: Skew = Skew(exponent=1.0, offset=2.0)
    #: Share of people who live in a household of two to five (sizes and their odds below).
    household_share: float = 0.30
    household_sizes: tuple[tuple[int, float], ...] = ((2, 0.55), (3, 0.20), (4, 0.17), (5, 0.08))
    #: Share of household members who carry the head's surname.
    household_surname: float = 0.8
    #: Share of a household member's browsing done on the family desktop (the rest on their own devices).
    family_desktop: float = 0.6
    #: Share of people who join the loyalty programme (the rest only ever pay by card or cash).
    loyalty_share: float = 0.6
    till: TillHabits = TillHabits(
        card_shown=0.6, pays_by_card=0.85, own_receipt_email=0.15, store_receipt_email=0.15, second_card=0.10
    )


REGIONAL = RegionalShape()


@dataclass(frozen=True)
class Region:
    """The towns, streets and name weights one seed draws for the regional world; towns biggest first."""

    shape: RegionalShape
    towns: np.ndarray
    town_weights: np.ndarray
    postcodes: tuple[np.ndarray, ...]
    streets: tuple[np.ndarray, ...]
    stores: Stores
    #: The store each town's people call home.
    home_stores: np.ndarray
    last_names: np.ndarray
    last_weights: np.ndarray
    first_names: dict[str, tuple[np.ndarray, np.ndarray]]

    def addresses(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Street with house number, town and postcode of `n` people placed by town size."""
        town = rng.choice(len(self.towns), n, p=self.town_weights)
        number = rng.integers(1, self.shape.house_numbers + 1, n)
        pick, code = rng.random(n), rng.random(n)
        street, postcode = np.empty(n, dtype=object), np.empty(n, dtype=object)
        for t in range(len(self.towns)):
            idx = np.flatnonzero(town == t)
            names = self.streets[t][(pick[idx] * len(self.streets[t])).astype("int64")]
            street[idx] = [
                f"{s} {k}" if self.shape.country == "DE" else f"{k} {s}"
                for s, k in zip(names, number[idx], strict=True)
            ]
            postcode[idx] = self.postcodes[t][(code[idx] * len(self.postcodes[t])).astype("int64")]
        return street, self.towns[town], postcode

    def home_store_of(self, towns: np.ndarray) -> np.ndarray:
        """The store people of these towns shop at."""
        position = {name: i for i, name in enumerate(self.towns.tolist())}
        return self.home_stores[[position[t] for t in towns]]

    def draw_last_names(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.last_names[rng.choice(len(self.last_names), n, p=self.last_weights)]

    def draw_first_names(self, rng: np.random.Generator, gender: np.ndarray) -> np.ndarray:
        out = np.empty(len(gender), dtype=object)
        for g, (names, weights) in self.first_names.items():
            idx = np.flatnonzero(gender == g)
            out[idx] = names[rng.choice(len(names), len(idx), p=weights)]
        return out


def _by_frequency(pool: np.ndarray) -> np.ndarray:
    """The distinct names of a pool, most frequent first (Faker draws common names more often)."""
    names, counts = np.unique(pool, return_counts=True)
    return names[np.lexsort((names, -counts))]


def _stores(shape: RegionalShape, towns: np.ndarray) -> Stores:
    count = min(shape.stores, len(towns))
    return Stores(
        store_id=np.array([f"ST{k:03d}" for k in range(1, count + 1)], dtype=object),
        country=np.full(count, shape.country, dtype=object),
        currency=np.full(count, CURRENCIES[shape.country], dtype=object),
        receipt_email=np.array([STORE_RECEIPT_EMAIL.format(town=slugify(t)) for t in towns[:count]], dtype=object),
    )


def build_region(seed: int, pools: CountryPools, shape: RegionalShape) -> Region:
    """Towns, their postcodes, streets and stores, drawn from the country's pools on a stream of their own."""
    rng = rng_for(seed, Purpose.REGION)
    towns = rng.choice(np.unique(pools.cities), shape.towns, replace=False)
    lo, hi = shape.postcodes_per_town
    codes = rng.permutation(np.unique(pools.postcodes))
    cuts = np.cumsum(rng.integers(lo, hi + 1, shape.towns))
    postcodes = tuple(np.split(codes[: cuts[-1]], cuts[:-1]))
    street_pool = np.unique(pools.streets)
    lo, hi = shape.streets_per_town
    streets = tuple(rng.choice(street_pool, int(k), replace=False) for k in rng.integers(lo, hi + 1, shape.towns))
    stores = _stores(shape, towns)
    ids = stores.store_id
    home = np.array([ids[t] if t < len(ids) else ids[0] for t in range(shape.towns)], dtype=object)
    last = _by_frequency(pools.last)
    first = {g: _by_frequency(pool) for g, pool in (("F", pools.first_f), ("M", pools.first_m))}
    return Region(
        shape=shape,
        towns=towns,
        town_weights=shape.town_sizes.weights(shape.towns),
        postcodes=postcodes,
        streets=streets,
        stores=stores,
        home_stores=home,
        last_names=last,
        last_weights=shape.surnames.weights(len(last)),
        first_names={g: (names, shape.first_names.weights(len(names))) for g, names in first.items()},
    )


@lru_cache(maxsize=4)
def regional_pools(seed: int, shape: RegionalShape = REGIONAL) -> Pools:
    """The seed's pools with the region in place, and its stores instead of the diverse world's."""
    pools = build_pools(seed)
    region = build_region(seed, pools.countries[shape.country], shape)
    return replace(pools, stores=region.stores, region=region)


def pools_for(seed: int, world: str) -> Pools:
    """The pools a world of this shape draws from (see `SimulatorConfig.world`)."""
    return regional_pools(seed) if world == "regional" else build_pools(seed)
