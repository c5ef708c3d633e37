"""The point-of-sale stand-in: a SQL database of loyalty members and till transactions.

Works on any SQLAlchemy URL (a sqlite file by default, PostgreSQL in production-like
runs). Cashiers type loyalty details, so they carry the heaviest mess; transactions
carry whatever identifiers the till saw: a loyalty card, a card token, a receipt email
(sometimes the shop's own default) or a phone number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    bindparam,
    create_engine,
    delete,
    select,
)
from sqlalchemy.engine import Engine

from tessera_simulator.changes import RowChanges, ensure_one, object_values, python_values, take
from tessera_simulator.mess import (
    MessProfile,
    messy_birth_dates,
    messy_countries,
    messy_emails,
    messy_first_names,
    messy_last_names,
    messy_phones,
    messy_postcodes,
    messy_streets,
    messy_text,
)
from tessera_simulator.pools import Pools
from tessera_simulator.population import LifeEvents, active_on
from tessera_simulator.timestamps import (
    DAY_MS,
    HOUR_MS,
    SECOND_MS,
    SHOP_HOURS,
    late_offsets,
    naive_utc_many,
    times_in_day,
)
from tessera_simulator.world import World

log = logging.getLogger(__name__)

LOYALTY_STREAM, TRANSACTIONS_STREAM = "pos.loyalty_members", "pos.transactions"
TIMESTAMP_COLUMNS = ("enrolled_at", "updated_at", "occurred_at")
LATE_RATE = 0.04
REFLECT_LIFE_EVENT = 0.4


@dataclass(frozen=True)
class TillHabits:
    """How shoppers make themselves known at the till: shares of receipts, or of loyalty members."""

    #: A loyalty member shows a card (one of theirs, if they hold two) on this share of receipts.
    card_shown: float = 0.75
    pays_by_card: float = 0.72
    own_receipt_email: float = 0.22
    store_receipt_email: float = 0.08
    #: Share of loyalty members who enrol a second time (a replacement card, typed in again); a member
    #: with one card replaces it at this share per year.
    second_card: float = 0.0


def till_habits(pools: Pools) -> TillHabits:
    """The diverse world's habits, or the region's."""
    return TillHabits() if pools.region is None else pools.region.shape.till


metadata = MetaData()
loyalty_members = Table(
    "loyalty_members",
    metadata,
    Column("loyalty_id", String, primary_key=True),
    Column("first_name", String),
    Column("last_name", String),
    Column("email", String),
    Column("phone", String),
    Column("birth_date", String),
    Column("street", String),
    Column("city", String),
    Column("postcode", String),
    Column("country", String),
    Column("enrolled_at", DateTime),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_loyalty_members_updated_at", "updated_at", "loyalty_id"),
)
transactions = Table(
    "transactions",
    metadata,
    Column("transaction_id", String, primary_key=True),
    Column("store_id", String),
    Column("loyalty_id", String, nullable=True),
    Column("payment_token", String, nullable=True),
    Column("receipt_email", String, nullable=True),
    Column("phone", String, nullable=True),
    Column("total_amount", Numeric(18, 2)),
    Column("currency", String(3)),
    Column("item_count", Integer),
    Column("occurred_at", DateTime, nullable=False),
    Index("ix_transactions_occurred_at", "occurred_at", "transaction_id"),
)
applied_days = Table("simulator_applied_days", metadata, Column("day", String(10), primary_key=True))
TABLES = {t.name: t for t in (loyalty_members, transactions)}

#: Cashiers type in a hurry at the till.
LOYALTY_MESS = MessProfile(
    missing=0.06,
    placeholder=0.03,
    email_case=0.08,
    email_whitespace=0.04,
    gmail_variant=0.15,
    plus_tag=0.01,
    nickname=0.1,
    typo=0.04,
    name_case=0.12,
    phone_e164=0.1,
    birth_date_missing=0.2,
    birth_date_formats=(0.15, 0.35, 0.35, 0.15),
    local_date_habit=True,
    street_variant=0.5,
    text_case=0.1,
    postcode_variant=0.06,
)
#: What a shopper says when asked for an email or phone for the receipt.
RECEIPT_MESS = MessProfile(
    missing=0.0, placeholder=0.02, email_case=0.1, email_whitespace=0.05, plus_tag=0.02, phone_e164=0.15
)


class PosStore:
    """The POS database: schema, reset and one-transaction-per-day bulk writes."""

    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = create_engine(url)

    def create(self) -> None:
        metadata.create_all(self.engine)

    def reset(self) -> None:
        """Empty the tables for a fresh world (they are created if missing)."""
        self.create()
        with self.engine.begin() as conn:
            for table in (transactions, loyalty_members, applied_days):
                conn.execute(delete(table))

    def apply(self, changes: list[RowChanges], marker: str | None) -> bool:
        """Write a day in one transaction; with a marker, skip a day already written."""
        with self.engine.begin() as conn:
            if marker is not None:
                if conn.execute(select(applied_days.c.day).where(applied_days.c.day == marker)).first():
                    return False
                conn.execute(applied_days.insert(), [{"day": marker}])
            for change in changes:
                table = TABLES[change.table]
                if len(change.inserts):
                    conn.execute(table.insert(), _records(change.inserts))
                for update in change.updates:
                    if not len(update):
                        continue
                    cols = [c for c in update.columns if c != change.key]
                    stmt = (
                        table.update()
                        .where(table.c[change.key] == bindparam("_key"))
                        .values({c: bindparam(f"_{c}") for c in cols})
                    )
                    rows = _records(update)
                    conn.execute(stmt, [{"_key": r[change.key], **{f"_{c}": r[c] for c in cols}} for r in rows])
        return True

    def dispose(self) -> None:
        self.engine.dispose()


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of driver-ready values: naive UTC datetimes, Decimal money."""
    columns = {}
    for col in frame.columns:
        if col in TIMESTAMP_COLUMNS:
            columns[col] = naive_utc_many(frame[col].to_numpy(dtype="int64"))
        elif col == "total_amount":
            columns[col] = [Decimal(int(c)).scaleb(-2) for c in frame[col].to_numpy()]
        else:
            columns[col] = python_values(frame[col])
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _render_loyalty(persons: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    countries = object_values(persons["country"])
    return {
        "first_name": messy_first_names(object_values(persons["first_name"]), LOYALTY_MESS, rng),
        "last_name": messy_last_names(object_values(persons["last_name"]), LOYALTY_MESS, rng),
        "email": messy_emails(object_values(persons["email"]), LOYALTY_MESS, rng),
        "phone": messy_phones(countries, object_values(persons["phone"]), LOYALTY_MESS, rng),
        "birth_date": messy_birth_dates(object_values(persons["birth_date"]), countries, LOYALTY_MESS, rng),
        "street": messy_streets(object_values(persons["street"]), LOYALTY_MESS, rng),
        "city": messy_text(object_values(persons["city"]), LOYALTY_MESS, rng),
        "postcode": messy_postcodes(object_values(persons["postcode"]), countries, LOYALTY_MESS, rng),
        "country": messy_countries(countries, rng, canonical=0.8),
    }


def new_loyalty(
    world: World, people: np.ndarray, enrolled_ms: np.ndarray, updated_ms: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    order = np.argsort(enrolled_ms, kind="stable")
    people, enrolled_ms, updated_ms = people[order], enrolled_ms[order], updated_ms[order]
    ids = world.take_ids("loyalty", "L", 8, len(people))
    world.append(
        "loyalty",
        pd.DataFrame(
            {
                "loyalty_id": ids,
                "person": people.astype("int64"),
                "created_ms": enrolled_ms.astype("int64"),
                "updated_ms": updated_ms.astype("int64"),
            }
        ),
    )
    rows = pd.DataFrame({"loyalty_id": ids, **_render_loyalty(world.persons.iloc[people], rng)})
    rows["enrolled_at"] = enrolled_ms.astype("int64")
    rows["updated_at"] = updated_ms.astype("int64")
    return rows


def history(world: World, people: np.ndarray, cut_ms: int, rng: np.random.Generator, habits: TillHabits) -> RowChanges:
    """Loyalty members who enrolled before `cut_ms` (and the second cards some enrolled since)."""
    people = people[world.persons["in_loyalty"].to_numpy()[people]]
    n = len(people)
    created = world.persons["created_ms"].to_numpy()[people]
    enrolled = created + (rng.random(n) * np.minimum(60 * DAY_MS, cut_ms - created)).astype("int64")
    touched = rng.random(n) < 0.3
    updated = np.where(touched, enrolled + (rng.random(n) * (cut_ms - enrolled)).astype("int64"), enrolled)
    if habits.second_card:
        again = rng.random(n) < habits.second_card
        later = enrolled[again] + (rng.random(int(again.sum())) * (cut_ms - enrolled[again])).astype("int64")
        people = np.concatenate([people, people[again]])
        enrolled, updated = np.concatenate([enrolled, later]), np.concatenate([updated, later])
    return RowChanges(
        LOYALTY_STREAM, "loyalty_members", "loyalty_id", new_loyalty(world, people, enrolled, updated, rng)
    )


def plan_day(
    world: World,
    pools: Pools,
    day_ms: int,
    arrivals: np.ndarray,
    life: LifeEvents,
    rng: np.random.Generator,
    live: bool,
) -> tuple[RowChanges, RowChanges]:
    """Today's enrolments, loyalty edits and till transactions (some synced late; one at least
    on a `live` day)."""
    end_ms = day_ms + DAY_MS
    persons = world.persons
    joiners = arrivals[persons["in_loyalty"].to_numpy()[arrivals]]
    enrolled = np.minimum(
        persons["created_ms"].to_numpy()[joiners] + rng.integers(0, 6 * HOUR_MS, len(joiners)), end_ms - 1
    )
    existing = np.flatnonzero(world.loyalty["created_ms"].to_numpy() < day_ms)
    habits = till_habits(pools)
    if habits.second_card:
        replacing = _replacing_card(world, existing, habits.second_card / 365, rng)
        joiners = np.concatenate([joiners, replacing])
        enrolled = np.concatenate([enrolled, times_in_day(rng, len(replacing), day_ms, SHOP_HOURS)])
    inserts = new_loyalty(world, joiners, enrolled, enrolled, rng)

    # Loyalty details follow some life events, at the till, during opening hours.
    owner = world.loyalty["person"].to_numpy()[existing]
    updates = []
    for columns, who in (
        (("email",), life.new_email),
        (("phone",), life.new_phone),
        (("street", "city", "postcode"), life.moved),
    ):
        edited = existing[np.isin(owner, who) & (rng.random(len(existing)) < REFLECT_LIFE_EVENT)]
        if not len(edited):
            continue
        rendered = _render_loyalty(persons.iloc[world.loyalty["person"].to_numpy()[edited]], rng)
        when = times_in_day(rng, len(edited), day_ms, SHOP_HOURS)
        when = np.maximum(when, world.loyalty["updated_ms"].to_numpy()[edited] + SECOND_MS)
        frame = pd.DataFrame(
            {
                "loyalty_id": world.loyalty["loyalty_id"].to_numpy()[edited],
                **{c: rendered[c] for c in columns},
                "updated_at": when,
            }
        )
        world.loyalty.loc[edited, "updated_ms"] = when
        updates.append(frame)
    loyalty_changes = RowChanges(LOYALTY_STREAM, "loyalty_members", "loyalty_id", inserts, updates)
    return loyalty_changes, _transactions(world, pools, day_ms, rng, live, habits)


def _replacing_card(world: World, existing: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """People with one loyalty card who enrol again today (a lost card, a new one typed in at the till)."""
    owners = world.loyalty["person"].to_numpy()
    cards = np.bincount(owners, minlength=len(world.persons))
    single = np.unique(owners[existing])
    single = single[cards[single] == 1]
    return single[rng.random(len(single)) < rate]


def _cards_shown(world: World, buyer: np.ndarray, day_ms: int, u: np.ndarray, habits: TillHabits) -> np.ndarray:
    """The loyalty card scanned for each receipt, or None.

    A member shows a card they held before the purchase when `u < card_shown`; the same `u` picks which of
    their cards, so the diverse world (one card each) needs no draw beyond the one it always made.
    """
    held = world.loyalty[world.loyalty["created_ms"].to_numpy() < day_ms - 3 * HOUR_MS]
    owner = held["person"].to_numpy()
    ids = held["loyalty_id"].to_numpy(dtype=object)[np.argsort(owner, kind="stable")]
    per_person = np.bincount(owner, minlength=len(world.persons))
    first = np.cumsum(per_person) - per_person
    counts = per_person[buyer]
    shown = (counts > 0) & (u < habits.card_shown)
    which = np.minimum((u[shown] / habits.card_shown * counts[shown]).astype("int64"), counts[shown] - 1)
    card = np.full(len(buyer), None, dtype=object)
    card[shown] = ids[first[buyer[shown]] + which]
    return card


def _transactions(
    world: World, pools: Pools, day_ms: int, rng: np.random.Generator, live: bool, habits: TillHabits
) -> RowChanges:
    persons = world.persons
    eligible = np.flatnonzero(persons["created_ms"].to_numpy() < day_ms)
    counts = rng.poisson(persons["shop_rate"].to_numpy()[eligible])
    buyer = np.repeat(eligible, counts)
    n = len(buyer)
    stores = pools.stores
    home = take(persons["home_store"], buyer)
    store_pos = {s: i for i, s in enumerate(stores.store_id.tolist())}
    store = np.array([store_pos[s] for s in home], dtype="int64")
    away = rng.random(n) < 0.15
    store[away] = rng.integers(0, len(stores.store_id), int(away.sum()))
    when = times_in_day(rng, n, day_ms, SHOP_HOURS)
    late = rng.random(n) < LATE_RATE
    late = ensure_one(late, rng) if live else late
    when[late] = day_ms - late_offsets(rng, int(late.sum()))
    card = _cards_shown(world, buyer, day_ms, rng.random(n), habits)
    token1, token2 = take(persons["token1"], buyer), take(persons["token2"], buyer)
    pay_card = rng.random(n) < habits.pays_by_card
    second = (rng.random(n) < 0.3) & pd.notna(token2)
    token = np.where(pay_card, np.where(second, token2, token1), None)
    u = rng.random(n)
    own = messy_emails(take(persons["email"], buyer), RECEIPT_MESS, rng)
    own_or_store = habits.own_receipt_email + habits.store_receipt_email
    receipt = np.where(u < habits.own_receipt_email, own, np.where(u < own_or_store, stores.receipt_email[store], None))
    phones = messy_phones(take(persons["country"], buyer), take(persons["phone"], buyer), RECEIPT_MESS, rng)
    phone = np.where(rng.random(n) < 0.08, phones, None)
    cents = np.round(np.exp(rng.normal(np.log(4500), 0.8, n))).astype("int64") + 99
    items = 1 + rng.poisson(1.6, n)
    # People who have left buy nothing: their receipts are dropped after every draw, so everybody else's are
    # what they would have been. A late receipt is kept (it was rung up before they left).
    stay = active_on(persons, day_ms, buyer) | late
    order = np.flatnonzero(stay)[np.lexsort((buyer[stay], when[stay]))]
    ids = world.take_ids("transaction", "T", 10, len(order))
    frame = pd.DataFrame(
        {
            "transaction_id": ids,
            "store_id": stores.store_id[store][order],
            "loyalty_id": card[order],
            "payment_token": token[order],
            "receipt_email": receipt[order],
            "phone": phone[order],
            "total_amount": cents[order],
            "currency": stores.currency[store][order],
            "item_count": items[stay],
            "occurred_at": when[order],
        }
    )
    world.append("transactions", pd.DataFrame({"transaction_id": ids, "person": buyer[order].astype("int64")}))
    return RowChanges(TRANSACTIONS_STREAM, "transactions", "transaction_id", frame, late=int(late[stay].sum()))
