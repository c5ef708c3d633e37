"""The website stand-in: Segment-spec events dropped as hourly gzip JSON-lines files.

Visitors browse on one or more devices (a household may share one), sometimes log in
(an `identify` with their CRM contact id), and the collector drops a file per hour.
Some hours' files are held back and dropped during the next simulated day: they wait
in `web_pending/` and are moved into `web/` then, so a reader sees them arrive late.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from tessera_simulator.changes import ensure_one, object_values, take
from tessera_simulator.mess import MessProfile, messy_emails, messy_first_names, messy_last_names
from tessera_simulator.pools import CURRENCIES, SHOP_DOMAIN, USER_AGENTS_DESKTOP, USER_AGENTS_MOBILE, Pools
from tessera_simulator.population import AFTER_LEAVING, active_on
from tessera_simulator.seeding import uuids
from tessera_simulator.timestamps import ACTIVITY_BY_HOUR, DAY_MS, HOUR_MS, SECOND_MS, iso_ms_many, times_in_day
from tessera_simulator.world import World

STREAM = "web.events"
SUFFIX = ".jsonl.gz"
MAX_LINES_PER_FILE = 5000
LATE_HOUR_SHARE = 0.12
MALFORMED_RATE = 0.003
LOGIN_RATE, NEWSLETTER_RATE = 0.35, 0.04
REFERRERS = (
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://www.instagram.com/",
    "https://www.facebook.com/",
    "https://duckduckgo.com/",
    "",
)
TRACK_EVENTS = (
    ("Product Viewed", "Product Added", "Products Searched", "Checkout Started", "Order Completed"),
    (0.45, 0.25, 0.15, 0.10, 0.05),
)
SEARCHES = ("rain jacket", "merino", "socks", "gift", "backpak", "linen shirt", "sneakers sale", "beanie")
TRAIT_MESS = MessProfile(
    missing=0.0,
    placeholder=0.0,
    email_case=0.05,
    email_whitespace=0.01,
    gmail_variant=0.1,
    plus_tag=0.02,
    nickname=0.1,
    typo=0.005,
    name_case=0.05,
)


@dataclass
class WebDay:
    """A day's events as JSON lines, per hour, split into on-time and held-back files."""

    files: dict[str, list[str]] = field(default_factory=dict)
    pending: dict[str, list[str]] = field(default_factory=dict)
    events: int = 0
    malformed: int = 0


def file_name(hour_ms: int, part: int) -> str:
    """`YYYY/MM/DD/HH/events-YYYYMMDDHH-<n>.jsonl.gz`, relative to the drop folder."""
    hour = datetime.fromtimestamp(hour_ms / 1000, tz=UTC)
    return f"{hour:%Y/%m/%d/%H}/events-{hour:%Y%m%d%H}-{part}{SUFFIX}"


def _device_rows(world: World, people: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each session's person, one of their devices (rows of `world.devices`)."""
    owner = world.devices["person"].to_numpy()
    order = np.argsort(owner, kind="stable")
    counts = np.bincount(owner, minlength=len(world.persons))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pick = starts[people] + (rng.random(len(people)) * counts[people]).astype("int64")
    return order[pick]


def _on_family_desktop(
    world: World, people: np.ndarray, device: np.ndarray, share: float, rng: np.random.Generator
) -> np.ndarray:
    """Move `share` of the sessions of people with a household desktop onto it (rows of `world.devices`)."""
    devices = world.devices
    shared = devices["anonymous_id"].duplicated(keep=False).to_numpy()
    family = np.full(len(world.persons), -1, dtype="int64")
    family[devices["person"].to_numpy()[shared]] = np.flatnonzero(shared)
    at_home = (family[people] >= 0) & (rng.random(len(people)) < share)
    return np.where(at_home, family[people], device)


def plan_day(world: World, pools: Pools, day_ms: int, rng: np.random.Generator, live: bool) -> WebDay:
    """Sessions of today's visitors, rendered as Segment events and grouped into hourly files.

    On a `live` day at least one line is malformed and at least one hour is partly held back.
    """
    persons = world.persons
    eligible = np.flatnonzero(persons["in_web"].to_numpy() & (persons["created_ms"].to_numpy() < day_ms))
    has_device = np.bincount(world.devices["person"].to_numpy(), minlength=len(persons)) > 0
    eligible = eligible[has_device[eligible]]
    per_person = np.minimum(rng.poisson(persons["web_rate"].to_numpy()[eligible]), 3)
    people = np.repeat(eligible, per_person)
    sessions = len(people)
    device = _device_rows(world, people, rng)
    if pools.region is not None:
        device = _on_family_desktop(world, people, device, pools.region.shape.family_desktop, rng)
    start = times_in_day(rng, sessions, day_ms, ACTIVITY_BY_HOUR)
    length = np.minimum(2 + rng.poisson(2.5, sessions), 12)

    contacts = world.contacts
    logged = contacts[contacts["primary"].to_numpy() & ~contacts["archived"].to_numpy()]
    contact_of = logged.drop_duplicates("person").set_index("person")["contact_id"]
    user_id = contact_of.reindex(people).to_numpy(dtype=object)
    login = pd.notna(user_id) & (rng.random(sessions) < LOGIN_RATE)
    newsletter = ~login & (rng.random(sessions) < NEWSLETTER_RATE)

    # One row per event: which session, its position and time.
    session = np.repeat(np.arange(sessions), length)
    position = np.arange(len(session)) - np.repeat(np.cumsum(length) - length, length)
    gaps = rng.exponential(45 * SECOND_MS, len(session)).astype("int64") + SECOND_MS
    gaps[position == 0] = 0
    offset = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[np.cumsum(length) - length], length)
    ts = start[session] + offset
    keep = ts < day_ms + DAY_MS
    identify_at = np.where(login | newsletter, np.minimum(1, length - 1), -1)
    is_identify = position == identify_at[session]
    track = ~is_identify & (position > 0) & (rng.random(len(session)) < 0.45)
    kinds = np.where(is_identify, "identify", np.where(track, "track", "page")).astype(object)
    names, weights = TRACK_EVENTS
    track_name = np.asarray(names, dtype=object)[rng.choice(len(names), len(session), p=weights)]
    product = rng.integers(0, len(pools.products.product_id), len(session))
    referrer_pick = rng.integers(0, len(REFERRERS), sessions)
    message_ids = uuids(rng, len(session))
    sent_delay = rng.integers(0, 2 * SECOND_MS, len(session))
    received_delay = rng.integers(20, 800, len(session))
    malformed = rng.random(len(session)) < MALFORMED_RATE
    missing_id = malformed & (rng.random(len(session)) < 0.5)
    cut_at = rng.random(len(session))
    # People losing interest come a fraction as often: their sessions are thinned after every draw (with a
    # generator of their own), so everybody else's sessions are what they would have been.
    fading = ~active_on(persons, day_ms, people, fading=True)
    keep &= ~(fading & (rng.spawn(1)[0].random(sessions) >= AFTER_LEAVING))[session]
    if live and keep.any() and not malformed[keep].any():
        malformed[rng.choice(np.flatnonzero(keep))] = True

    people_rows = persons.iloc[people]
    trait_email = messy_emails(object_values(people_rows["email"]), TRAIT_MESS, rng)
    trait_first = messy_first_names(object_values(people_rows["first_name"]), TRAIT_MESS, rng)
    trait_last = messy_last_names(object_values(people_rows["last_name"]), TRAIT_MESS, rng)
    currency = np.array([CURRENCIES[c] for c in object_values(people_rows["country"])], dtype=object)

    devices = world.devices
    anon = take(devices["anonymous_id"], device)
    kind = take(devices["kind"], device)
    ua_pick = devices["ua_pick"].to_numpy()[device]
    agents = [
        (USER_AGENTS_MOBILE if k == "mobile" else USER_AGENTS_DESKTOP)[
            int(u * len(USER_AGENTS_MOBILE if k == "mobile" else USER_AGENTS_DESKTOP))
        ]
        for k, u in zip(kind, ua_pick, strict=True)
    ]
    ips = take(devices["ip"], device)
    iso_ts = iso_ms_many(ts)
    iso_sent = iso_ms_many(ts + sent_delay)
    iso_received = iso_ms_many(ts + sent_delay + received_delay)
    products = pools.products

    lines: list[tuple[int, str]] = []
    last_url: dict[int, str] = {}
    malformed_count = 0
    for i in np.flatnonzero(keep).tolist():
        s = int(session[i])
        k = int(product[i])
        pos = int(position[i])
        url = f"https://{SHOP_DOMAIN}/products/{products.slug[k]}" if pos else f"https://{SHOP_DOMAIN}/"
        referrer = last_url.get(s, REFERRERS[referrer_pick[s]])
        event: dict = {}
        if not missing_id[i]:
            event["messageId"] = message_ids[i]
        event["type"] = kinds[i]
        if kinds[i] == "track":
            event["event"] = track_name[i]
        event["anonymousId"] = anon[s]
        if login[s] and pos >= identify_at[s]:
            event["userId"] = user_id[s]
        if kinds[i] == "identify":
            traits = {"email": trait_email[s]}
            if login[s]:
                traits |= {"firstName": trait_first[s], "lastName": trait_last[s]}
            event["traits"] = traits
        elif kinds[i] == "track":
            event["properties"] = _track_properties(track_name[i], products, k, currency[s], message_ids[i])
        else:
            title = f"{products.name[k]} | Fernhill" if pos else "Fernhill Outfitters"
            path = url.removeprefix(f"https://{SHOP_DOMAIN}")
            event["properties"] = {"path": path, "url": url, "title": title, "referrer": referrer}
        event["context"] = {"ip": ips[s], "userAgent": agents[s], "page": {"url": url, "referrer": referrer}}
        event["timestamp"] = iso_ts[i]
        event["sentAt"] = iso_sent[i]
        event["receivedAt"] = iso_received[i]
        last_url[s] = url
        line = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        if malformed[i] and not missing_id[i]:
            line = line[: 10 + int(cut_at[i] * (len(line) - 20))]  # the collector cut the line short
        malformed_count += bool(malformed[i])
        lines.append((int(ts[i]) // HOUR_MS * HOUR_MS, line))
    seen_rows = np.unique(device[np.unique(session[keep])]) if keep.any() else np.array([], dtype="int64")
    world.devices.loc[seen_rows, "seen"] = True
    day = _into_files(lines, rng, live)
    day.malformed = malformed_count
    return day


def _track_properties(name: str, products, k: int, currency: str, message_id: str) -> dict:
    if name == "Products Searched":
        return {"query": SEARCHES[k % len(SEARCHES)]}
    price = float(products.price[k])
    if name in ("Checkout Started", "Order Completed"):
        props = {"value": round(price * (1 + k % 3), 2), "currency": currency}
        if name == "Order Completed":
            props["order_id"] = "W" + message_id.replace("-", "")[:12].upper()
        return props
    return {"product_id": products.product_id[k], "name": products.name[k], "price": price, "currency": currency}


def _into_files(lines: list[tuple[int, str]], rng: np.random.Generator, live: bool) -> WebDay:
    day = WebDay(events=len(lines))
    by_hour: dict[int, list[str]] = {}
    for hour, line in lines:
        by_hour.setdefault(hour, []).append(line)
    hours = sorted(by_hour)
    late_hours = rng.random(len(hours)) < LATE_HOUR_SHARE
    late_hours = ensure_one(late_hours, rng) if live else late_hours
    for hour, late_hour in zip(hours, late_hours, strict=True):
        hour_lines = by_hour[hour]
        held = np.zeros(len(hour_lines), dtype=bool)
        if late_hour:
            held = rng.random(len(hour_lines)) < rng.uniform(0.3, 0.7)
        on_time = [line for line, h in zip(hour_lines, held, strict=True) if not h]
        part = 0
        for first in range(0, len(on_time), MAX_LINES_PER_FILE):
            day.files[file_name(hour, part)] = on_time[first : first + MAX_LINES_PER_FILE]
            part += 1
        if held.any():
            day.pending[file_name(hour, part)] = [line for line, h in zip(hour_lines, held, strict=True) if h]
    return day


def write_file(root: Path, name: str, lines: list[str]) -> None:
    """Write one gzip JSON-lines file atomically (a `.tmp` name, then rename into place)."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
        gz.write(("\n".join(lines) + "\n").encode("utf-8"))
    os.replace(tmp, path)


def release_pending(pending_root: Path, drop_root: Path, today: str) -> int:
    """Move files held back on days before `today` (YYYYMMDD) into the drop folder.

    Returns how many events they hold. Files held back today stay where they are.
    """
    if not pending_root.exists():
        return 0
    events = 0
    for day_folder in sorted(p for p in pending_root.iterdir() if p.is_dir() and p.name < today):
        for path in sorted(day_folder.rglob(f"*{SUFFIX}")):
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                events += sum(1 for _ in fh)
            target = drop_root / path.relative_to(day_folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        shutil.rmtree(day_folder, ignore_errors=True)
    return events


def write_day(day: WebDay, drop_root: Path, pending_root: Path) -> None:
    for name, lines in day.files.items():
        write_file(drop_root, name, lines)
    for name, lines in day.pending.items():
        write_file(pending_root, name, lines)
