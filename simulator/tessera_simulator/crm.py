"""The CRM stand-in (HubSpot-like contacts): what sales and service staff typed in.

Contacts are created when a person signs up, sometimes entered twice, updated as
people move or change their mind about marketing, and soft-deleted (archived). The
sqlite file `crm.sqlite` holds the current version of each contact; the API serves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tessera_simulator.changes import RowChanges, ensure_malformed, ensure_one, object_values
from tessera_simulator.mess import (
    MessProfile,
    blank,
    messy_birth_dates,
    messy_countries,
    messy_emails,
    messy_first_names,
    messy_last_names,
    messy_phones,
    messy_postcodes,
    messy_streets,
    messy_text,
    recase,
)
from tessera_simulator.population import LifeEvents
from tessera_simulator.timestamps import ACTIVITY_BY_HOUR, DAY_MS, HOUR_MS, SECOND_MS, late_offsets, times_in_day
from tessera_simulator.world import World

STREAM = "crm.contacts"
DDL = """
CREATE TABLE IF NOT EXISTS contacts (
    key TEXT PRIMARY KEY,
    email TEXT, phone TEXT, firstname TEXT, lastname TEXT, date_of_birth TEXT,
    address TEXT, city TEXT, zip TEXT, country TEXT, company TEXT, hs_marketable_status TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    malformed TEXT
);
CREATE INDEX IF NOT EXISTS contacts_by_update ON contacts (updated_ms, key)
"""
PROPERTIES = (
    "email",
    "phone",
    "firstname",
    "lastname",
    "date_of_birth",
    "address",
    "city",
    "zip",
    "country",
    "company",
    "hs_marketable_status",
)
#: How a malformed contact is broken when served (the store keeps the real values).
MALFORMED_KINDS = np.array(["updated_at_missing", "updated_at_not_a_date", "empty_id"], dtype=object)
MALFORMED_RATE = 0.003
LATE_RATE = 0.04

CRM_MESS = MessProfile(missing=0.04, placeholder=0.012, nickname=0.05, typo=0.015, birth_date_missing=0.35)
#: A second entry of the same person is typed with less care.
DUPLICATE_MESS = MessProfile(
    missing=0.12,
    placeholder=0.02,
    email_case=0.15,
    gmail_variant=0.4,
    plus_tag=0.1,
    nickname=0.35,
    typo=0.08,
    name_case=0.1,
    phone_e164=0.2,
    birth_date_missing=0.6,
    birth_date_formats=(0.4, 0.2, 0.2, 0.2),
    street_variant=0.7,
    text_case=0.1,
)


@dataclass(frozen=True)
class UpdateRates:
    """Daily chance that an active contact gets each kind of edit (at most one a day)."""

    delete: float = 0.0005
    opt_in: float = 0.012
    enrich: float = 0.009
    names: float = 0.006
    dedupe_entry: float = 0.0004
    reflect_life_event: float = 0.7


RATES = UpdateRates()


def marketable(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.asarray(["true", "false", None], dtype=object)[rng.choice(3, n, p=[0.6, 0.3, 0.1])]


def render(persons: pd.DataFrame, profile: MessProfile, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """All contact properties of these people, as this CRM would hold them."""
    countries = object_values(persons["country"])
    n = len(persons)
    company = recase(object_values(persons["company"]), profile.text_case, rng)
    return {
        "email": messy_emails(object_values(persons["email"]), profile, rng),
        "phone": messy_phones(countries, object_values(persons["phone"]), profile, rng),
        "firstname": messy_first_names(object_values(persons["first_name"]), profile, rng),
        "lastname": messy_last_names(object_values(persons["last_name"]), profile, rng),
        "date_of_birth": messy_birth_dates(object_values(persons["birth_date"]), countries, profile, rng),
        "address": messy_streets(object_values(persons["street"]), profile, rng),
        "city": messy_text(object_values(persons["city"]), profile, rng),
        "zip": messy_postcodes(object_values(persons["postcode"]), countries, profile, rng),
        "country": blank(messy_countries(countries, rng), profile.missing * 2, rng),
        "company": blank(company, profile.missing, rng),
        "hs_marketable_status": marketable(rng, n),
    }


def draw_malformed(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.full(n, None, dtype=object)
    hit = rng.random(n) < MALFORMED_RATE
    out[hit] = MALFORMED_KINDS[rng.integers(0, len(MALFORMED_KINDS), int(hit.sum()))]
    return out


def new_contacts(
    world: World,
    people: np.ndarray,
    created_ms: np.ndarray,
    updated_ms: np.ndarray,
    archived: np.ndarray,
    primary: np.ndarray,
    profile: MessProfile,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Create contacts for these people (in creation order) and return the store rows."""
    order = np.argsort(created_ms, kind="stable")
    people, created_ms, updated_ms = people[order], created_ms[order], updated_ms[order]
    archived, primary = archived[order], primary[order]
    ids = world.take_ids("contact", "C", 7, len(people))
    world.append(
        "contacts",
        pd.DataFrame(
            {
                "contact_id": ids,
                "person": people.astype("int64"),
                "primary": primary.astype(bool),
                "archived": archived.astype(bool),
                "created_ms": created_ms.astype("int64"),
                "updated_ms": updated_ms.astype("int64"),
            }
        ),
    )
    rows = pd.DataFrame({"key": ids, **render(world.persons.iloc[people], profile, rng)})
    rows["created_ms"] = created_ms.astype("int64")
    rows["updated_ms"] = updated_ms.astype("int64")
    rows["archived"] = archived.astype("int64")
    rows["malformed"] = draw_malformed(rng, len(people))
    return rows


def history(world: World, people: np.ndarray, cut_ms: int, rng: np.random.Generator) -> RowChanges:
    """Contacts of people who signed up before `cut_ms`, as the CRM held them at that moment."""
    people = people[world.persons["in_crm"].to_numpy()[people]]
    created = world.persons["created_ms"].to_numpy()[people] + rng.integers(0, 2 * HOUR_MS, len(people))
    created = np.minimum(created, cut_ms - SECOND_MS)
    dup = rng.random(len(people)) < 0.04
    dup_people = people[dup]
    dup_created = created[dup] + (rng.random(len(dup_people)) * (cut_ms - created[dup])).astype("int64")
    frames = []
    for who, when, primary, profile in (
        (people, created, True, CRM_MESS),
        (dup_people, dup_created, False, DUPLICATE_MESS),
    ):
        n = len(who)
        touched = rng.random(n) < 0.45
        updated = np.where(touched, when + (rng.random(n) * (cut_ms - when)).astype("int64"), when)
        archived = rng.random(n) < (0.02 if primary else 0.1)
        frames.append(new_contacts(world, who, when, updated, archived, np.full(n, primary), profile, rng))
    inserts = pd.concat(frames, ignore_index=True)
    return RowChanges(STREAM, "contacts", "key", inserts, malformed=int(inserts["malformed"].notna().sum()))


def plan_day(
    world: World, day_ms: int, arrivals: np.ndarray, life: LifeEvents, rng: np.random.Generator, live: bool
) -> RowChanges:
    """New contacts for today's sign-ups, duplicate entries, edits, deletions; some dated late.

    On a `live` day (one generated by `advance()`) at least one edit is late and at least
    one new contact is malformed, so even a small world shows both every day.
    """
    end_ms = day_ms + DAY_MS
    persons = world.persons
    # 1. People who signed up today get a contact within two hours.
    signups = arrivals[persons["in_crm"].to_numpy()[arrivals]]
    created = np.minimum(
        persons["created_ms"].to_numpy()[signups] + rng.integers(0, 2 * HOUR_MS, len(signups)), end_ms - 1
    )
    inserts = [
        new_contacts(
            world, signups, created, created, np.zeros(len(signups), bool), np.ones(len(signups), bool), CRM_MESS, rng
        )
    ]
    contacts = world.contacts
    active = np.flatnonzero(~contacts["archived"].to_numpy() & (contacts["created_ms"].to_numpy() < day_ms))
    # 2. Someone enters an existing customer again as a new contact.
    primaries = active[contacts["primary"].to_numpy()[active]]
    again = primaries[rng.random(len(primaries)) < RATES.dedupe_entry]
    again_people = contacts["person"].to_numpy()[again]
    when = times_in_day(rng, len(again), day_ms, ACTIVITY_BY_HOUR)
    inserts.append(
        new_contacts(
            world, again_people, when, when, np.zeros(len(again), bool), np.zeros(len(again), bool), DUPLICATE_MESS, rng
        )
    )
    # 3. Edits: at most one per contact per day; life events win over routine edits.
    kinds = np.full(len(active), "", dtype=object)
    u = rng.random(len(active))
    bounds = np.cumsum([RATES.delete, RATES.opt_in, RATES.enrich, RATES.names])
    for kind, lo, hi in zip(("delete", "opt_in", "enrich", "names"), np.r_[0, bounds[:-1]], bounds, strict=True):
        kinds[(u >= lo) & (u < hi)] = kind
    owner = contacts["person"].to_numpy()[active]
    for kind, who in (("email", life.new_email), ("phone", life.new_phone), ("move", life.moved)):
        reflect = np.isin(owner, who) & (rng.random(len(active)) < RATES.reflect_life_event) & (kinds != "delete")
        kinds[reflect] = kind
    edited = active[kinds != ""]
    kinds = kinds[kinds != ""]
    when = times_in_day(rng, len(edited), day_ms, ACTIVITY_BY_HOUR)
    late = rng.random(len(edited)) < LATE_RATE
    late = ensure_one(late, rng) if live else late
    when[late] = day_ms - late_offsets(rng, int(late.sum()))
    floor = np.maximum(contacts["updated_ms"].to_numpy()[edited], contacts["created_ms"].to_numpy()[edited])
    when = np.maximum(when, floor + SECOND_MS)
    ids = contacts["contact_id"].to_numpy()[edited]
    updates = []
    for kind, columns in (
        ("delete", ()),
        ("opt_in", ("hs_marketable_status",)),
        ("enrich", ("company", "date_of_birth")),
        ("names", ("firstname", "lastname")),
        ("email", ("email",)),
        ("phone", ("phone",)),
        ("move", ("address", "city", "zip")),
    ):
        sel = kinds == kind
        if not sel.any():
            continue
        people = persons.iloc[contacts["person"].to_numpy()[edited[sel]]]
        rendered = render(people, CRM_MESS, rng)
        frame = pd.DataFrame({"key": ids[sel], **{c: rendered[c] for c in columns}})
        if kind == "opt_in":
            frame["hs_marketable_status"] = np.where(rng.random(int(sel.sum())) < 0.5, "true", "false")
        if kind == "delete":
            frame["archived"] = 1
        frame["updated_ms"] = when[sel]
        frame["malformed"] = None  # an edit fixes whatever was broken at entry
        updates.append(frame)
    # Positions stay valid: the duplicates above were appended at the end.
    world.contacts.loc[edited, "updated_ms"] = when
    world.contacts.loc[edited[kinds == "delete"], "archived"] = True
    all_inserts = pd.concat(inserts, ignore_index=True)
    change = RowChanges(
        STREAM,
        "contacts",
        "key",
        all_inserts,
        updates,
        late=int((when < day_ms).sum()),
        malformed=int(all_inserts["malformed"].notna().sum()),
    )
    if live:
        ensure_malformed(change, MALFORMED_KINDS, rng)
    return change
