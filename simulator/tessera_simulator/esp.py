"""The email platform stand-in (Mailchimp-like): subscribers and what they did with campaigns.

Each day one campaign goes to a share of subscribed members; sends turn into deliveries,
opens and clicks, or into bounces, unsubscribes and spam complaints that change the
member's status. `esp.sqlite` holds members (current version) and the event log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tessera_simulator.changes import RowChanges, ensure_malformed, ensure_one, object_values, take
from tessera_simulator.mess import MessProfile, messy_emails, messy_first_names, messy_last_names
from tessera_simulator.pools import SHOP_DOMAIN, Products
from tessera_simulator.population import AFTER_LEAVING, active_on
from tessera_simulator.seeding import hex_tokens
from tessera_simulator.timestamps import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, late_offsets
from tessera_simulator.world import World

MEMBERS_STREAM, EVENTS_STREAM = "email.subscribers", "email.events"
DDL = """
CREATE TABLE IF NOT EXISTS members (
    key TEXT PRIMARY KEY,
    email_address TEXT,
    status TEXT NOT NULL,
    fname TEXT, lname TEXT,
    timestamp_opt_ms INTEGER,
    last_changed_ms INTEGER NOT NULL,
    malformed TEXT
);
CREATE INDEX IF NOT EXISTS members_by_change ON members (last_changed_ms, key);
CREATE TABLE IF NOT EXISTS events (
    key TEXT PRIMARY KEY,
    subscriber_id TEXT NOT NULL,
    email TEXT,
    campaign_id TEXT,
    type TEXT NOT NULL,
    url TEXT,
    ts_ms INTEGER NOT NULL,
    malformed TEXT
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (ts_ms, key)
"""
EVENT_MALFORMED = np.array(["type_missing", "timestamp_garbage"], dtype=object)
MEMBER_MALFORMED = "email_missing"
MALFORMED_RATE = 0.003
LATE_RATE = 0.04
SEND_RATE = 0.15
BOUNCE, OPEN, CLICK, UNSUBSCRIBE, COMPLAINT = 0.02, 0.25, 0.3, 0.006, 0.0008

EMAIL_MESS = MessProfile(missing=0.0, placeholder=0.003, email_case=0.06, gmail_variant=0.2, plus_tag=0.07)
NAME_MESS = MessProfile(missing=0.15, placeholder=0.005, nickname=0.12, typo=0.01, name_case=0.08)


def _malformed(rng: np.random.Generator, n: int, kinds: np.ndarray) -> np.ndarray:
    out = np.full(n, None, dtype=object)
    hit = rng.random(n) < MALFORMED_RATE
    out[hit] = kinds[rng.integers(0, len(kinds), int(hit.sum()))]
    return out


def new_members(
    world: World,
    people: np.ndarray,
    opt_ms: np.ndarray,
    status: np.ndarray,
    last_ms: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Create members for these people (in sign-up order) and return the store rows."""
    order = np.argsort(last_ms, kind="stable")
    people, opt_ms, status, last_ms = people[order], opt_ms[order], status[order], last_ms[order]
    ids = world.take_ids("subscriber", "S", 7, len(people))
    persons = world.persons.iloc[people]
    emails = messy_emails(object_values(persons["email"]), EMAIL_MESS, rng)
    world.append(
        "members",
        pd.DataFrame(
            {
                "subscriber_id": ids,
                "person": people.astype("int64"),
                "status": status,
                "email": emails,
                "last_ms": last_ms.astype("int64"),
            }
        ),
    )
    return pd.DataFrame(
        {
            "key": ids,
            "email_address": emails,
            "status": status,
            "fname": messy_first_names(object_values(persons["first_name"]), NAME_MESS, rng),
            "lname": messy_last_names(object_values(persons["last_name"]), NAME_MESS, rng),
            "timestamp_opt_ms": pd.array(opt_ms, dtype="Int64"),
            "last_changed_ms": last_ms.astype("int64"),
            "malformed": _malformed(rng, len(people), np.array([MEMBER_MALFORMED], dtype=object)),
        }
    )


def history(world: World, people: np.ndarray, cut_ms: int, rng: np.random.Generator) -> RowChanges:
    """Members who joined before `cut_ms`, with the status each had reached by then."""
    people = people[world.persons["in_esp"].to_numpy()[people]]
    n = len(people)
    created = world.persons["created_ms"].to_numpy()[people]
    opt = created + (rng.random(n) * np.minimum(30 * DAY_MS, cut_ms - created)).astype("int64")
    status = np.asarray(["subscribed", "unsubscribed", "cleaned", "bounced"], dtype=object)[
        rng.choice(4, n, p=[0.85, 0.09, 0.03, 0.03])
    ]
    changed = np.where(status == "subscribed", opt, opt + (rng.random(n) * (cut_ms - opt)).astype("int64"))
    imported = rng.random(n) < 0.08  # list imports carry no opt-in time
    opt_or_none = np.where(imported, -1, opt)
    rows = new_members(world, people, opt_or_none, status, changed, rng)
    rows["timestamp_opt_ms"] = rows["timestamp_opt_ms"].mask(rows["timestamp_opt_ms"] < 0)
    return RowChanges(MEMBERS_STREAM, "members", "key", rows, malformed=int(rows["malformed"].notna().sum()))


def plan_day(
    world: World, day_ms: int, arrivals: np.ndarray, products: Products, rng: np.random.Generator, live: bool
) -> tuple[RowChanges, RowChanges]:
    """Today's sign-ups, one campaign's events, and the status changes they cause.

    On a `live` day at least one send is late and at least one new member and one event
    are malformed.
    """
    end_ms = day_ms + DAY_MS
    signups = arrivals[world.persons["in_esp"].to_numpy()[arrivals]]
    opt = np.minimum(
        world.persons["created_ms"].to_numpy()[signups] + rng.integers(0, 6 * HOUR_MS, len(signups)), end_ms - 1
    )
    members_before = len(world.members)
    inserts = new_members(world, signups, opt, np.full(len(signups), "subscribed", dtype=object), opt, rng)
    members = world.members.iloc[:members_before]
    status = object_values(members["status"])
    last_ms = members["last_ms"].to_numpy()

    # One campaign a day, sent mid-morning to a share of subscribed members.
    campaign = hex_tokens(rng, 1, 10)[0]
    eligible = np.flatnonzero((status == "subscribed") & (last_ms < day_ms))
    sent_to = eligible[rng.random(len(eligible)) < SEND_RATE]
    n = len(sent_to)
    sent = day_ms + 9 * HOUR_MS + rng.integers(0, 90 * MINUTE_MS, n)
    late = rng.random(n) < LATE_RATE
    late = ensure_one(late, rng) if live else late
    # A late send is dated before today, but never before the member joined.
    sent[late] = np.maximum(day_ms - late_offsets(rng, int(late.sum())), last_ms[sent_to[late]] + MINUTE_MS)
    bounced = rng.random(n) < BOUNCE
    bounce_at = sent + rng.integers(5 * SECOND_MS, 5 * MINUTE_MS, n)
    delivered_at = sent + rng.integers(SECOND_MS, 90 * SECOND_MS, n)
    recipient_left = ~active_on(world.persons, day_ms, members["person"].to_numpy()[sent_to], fading=True)
    opened = ~bounced & (rng.random(n) < np.where(recipient_left, OPEN * AFTER_LEAVING, OPEN))
    open_at = delivered_at + rng.exponential(4 * HOUR_MS, n).astype("int64")
    clicked = opened & (rng.random(n) < CLICK)
    click_at = open_at + rng.integers(5 * SECOND_MS, 10 * MINUTE_MS, n)
    u = rng.random(n)
    unsubscribed = ~bounced & (u < UNSUBSCRIBE)
    complained = ~bounced & (u >= UNSUBSCRIBE) & (u < UNSUBSCRIBE + COMPLAINT)
    leave_at = np.where(opened, open_at, delivered_at) + rng.integers(10 * SECOND_MS, 20 * MINUTE_MS, n)
    product = rng.integers(0, len(products.product_id), n)
    urls = np.array(
        [
            f"https://{SHOP_DOMAIN}/products/{products.slug[k]}?utm_source=email&utm_campaign={campaign}"
            for k in product
        ],
        dtype=object,
    )
    parts = [
        (np.arange(n), "sent", sent),
        (np.flatnonzero(bounced), "bounce", bounce_at),
        (np.flatnonzero(~bounced), "delivered", delivered_at),
        (np.flatnonzero(opened), "open", open_at),
        (np.flatnonzero(clicked), "click", click_at),
        (np.flatnonzero(unsubscribed), "unsubscribe", leave_at),
        (np.flatnonzero(complained), "spam_complaint", leave_at),
    ]
    recipient = np.concatenate([p[0] for p in parts])
    types = np.concatenate([np.full(len(p[0]), p[1], dtype=object) for p in parts])
    ts = np.concatenate([p[2][p[0]] for p in parts])
    keep = ts < end_ms  # an open after midnight has not happened yet
    recipient, types, ts = recipient[keep], types[keep], ts[keep]
    order = np.lexsort((recipient, ts))
    recipient, types, ts = recipient[order], types[order], ts[order]
    member_pos = sent_to[recipient]
    event_ids = world.take_ids("event", "E", 10, len(ts))
    events = pd.DataFrame(
        {
            "key": event_ids,
            "subscriber_id": take(members["subscriber_id"], member_pos),
            "email": take(members["email"], member_pos),
            "campaign_id": campaign,
            "type": types,
            "url": np.where(types == "click", urls[recipient], None),
            "ts_ms": ts.astype("int64"),
            "malformed": _malformed(rng, len(ts), EVENT_MALFORMED),
        }
    )

    # Bounces, unsubscribes and complaints change the member; so do a few re-subscriptions.
    changing = np.isin(types, ["bounce", "unsubscribe", "spam_complaint"])
    new_status = np.where(
        types[changing] == "bounce",
        np.where(rng.random(int(changing.sum())) < 0.3, "cleaned", "bounced"),
        "unsubscribed",
    ).astype(object)
    who, when = member_pos[changing], ts[changing]
    gone = np.flatnonzero(np.isin(status, ["unsubscribed"]) & (last_ms < day_ms))
    back = gone[rng.random(len(gone)) < 0.002]
    back_at = day_ms + rng.integers(8 * HOUR_MS, 22 * HOUR_MS, len(back))
    who = np.concatenate([who, back])
    when = np.concatenate([when, back_at])
    new_status = np.concatenate([new_status, np.full(len(back), "subscribed", dtype=object)])
    when = np.maximum(when, last_ms[who] + SECOND_MS)
    update = pd.DataFrame(
        {
            "key": take(members["subscriber_id"], who),
            "status": new_status,
            "last_changed_ms": when.astype("int64"),
            "malformed": None,  # a change fixes whatever was broken at sign-up
        }
    )
    resubscribed = update.iloc[len(update) - len(back) :][["key"]].copy()
    resubscribed["timestamp_opt_ms"] = back_at
    world.members.loc[who, "status"] = new_status
    world.members.loc[who, "last_ms"] = when
    member_changes = RowChanges(
        MEMBERS_STREAM,
        "members",
        "key",
        inserts,
        [update, resubscribed],
        late=int((when < day_ms).sum()),
        malformed=int(inserts["malformed"].notna().sum()),
    )
    event_changes = RowChanges(
        EVENTS_STREAM,
        "events",
        "key",
        events,
        late=int((ts < day_ms).sum()),
        malformed=int(events["malformed"].notna().sum()),
    )
    if live:
        ensure_malformed(member_changes, np.array([MEMBER_MALFORMED], dtype=object), rng)
        ensure_malformed(event_changes, EVENT_MALFORMED, rng)
    return member_changes, event_changes
