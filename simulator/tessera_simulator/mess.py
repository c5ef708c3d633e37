"""How people and clerks actually type things: the variations a matcher has to see through.

Each source renders a person through a `MessProfile`, so the same person looks slightly
different in the CRM, the email platform, the loyalty desk and on a receipt. Every kind of
mess here is listed in docs/simulator.md.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

import numpy as np

from tessera_simulator.pools import NICKNAMES

PLACEHOLDER_EMAILS = np.array(["test@test.com", "none@none.com", "n/a", "unknown", "noemail@noemail.com"], dtype=object)
PLACEHOLDER_PHONES = np.array(["0000000000", "n/a", "unknown", "1234567890", "000-000-0000"], dtype=object)
PLACEHOLDER_NAMES = np.array(["unknown", "n/a", "Test", "-"], dtype=object)
PLACEHOLDER_BIRTH_DATES = np.array(["1900-01-01", "01/01/1900", "unknown"], dtype=object)

COUNTRY_SPELLINGS = {
    "US": ("US", "USA", "United States", "us", "U.S.", "United States of America"),
    "GB": ("GB", "UK", "United Kingdom", "gb", "England", "Great Britain"),
    "DE": ("DE", "Germany", "Deutschland", "de", "GER"),
    "FR": ("FR", "France", "fr", "FRA"),
}
_STREET_ABBREVIATIONS = (
    (" Street", (" St", " St.", " street", " Str")),
    (" Avenue", (" Ave", " Ave.", " Av", " avenue")),
    (" Road", (" Rd", " Rd.", " road")),
    (" Drive", (" Dr", " Dr.")),
    (" Lane", (" Ln", " ln")),
    (" Boulevard", (" Blvd", " Blvd.")),
    (" Court", (" Ct",)),
    (" Place", (" Pl",)),
    (" Close", (" Cl",)),
    ("straße", ("str.", "strasse", "str")),
    ("Straße", ("Str.", "Strasse")),
    ("avenue ", ("av. ", "Avenue ", "ave ")),
    ("boulevard ", ("bd ", "Bd. ", "blvd ")),
    ("rue ", ("Rue ", "r. ")),
)
_KEYBOARD_NEIGHBOURS = {
    "a": "qsz",
    "b": "vgn",
    "c": "xdv",
    "d": "sfe",
    "e": "wrd",
    "f": "dgr",
    "g": "fht",
    "h": "gjy",
    "i": "uok",
    "j": "hku",
    "k": "jli",
    "l": "kop",
    "m": "n",
    "n": "bm",
    "o": "ipl",
    "p": "ol",
    "q": "wa",
    "r": "etf",
    "s": "adw",
    "t": "ryg",
    "u": "yij",
    "v": "cb",
    "w": "qes",
    "x": "zc",
    "y": "tu",
    "z": "xa",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class MessProfile:
    """The share of each kind of mess one source adds when it records a person."""

    missing: float = 0.03
    placeholder: float = 0.01
    email_case: float = 0.05
    email_whitespace: float = 0.02
    gmail_variant: float = 0.15
    plus_tag: float = 0.03
    nickname: float = 0.06
    typo: float = 0.02
    name_case: float = 0.03
    phone_e164: float = 0.4
    birth_date_missing: float = 0.15
    #: Weights of YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY and `D Mon YYYY`; the two slash
    #: forms follow the country's habit (US writes month first) when `local_date_habit`.
    birth_date_formats: tuple[float, float, float, float] = (0.7, 0.1, 0.1, 0.1)
    local_date_habit: bool = False
    street_variant: float = 0.35
    text_case: float = 0.04
    postcode_variant: float = 0.03


def _pick(rng: np.random.Generator, options: tuple | np.ndarray, n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), size=n)]


def strip_accents(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def typo(text: str, op: int, where: float, choice: float) -> str:
    """One keystroke gone wrong: swap, drop, double or hit a neighbouring key."""
    if len(text) < 3:
        return text
    i = 1 + int(where * (len(text) - 2))  # keep the first letter, people rarely miss it
    if op == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :] if i + 1 < len(text) else text
    if op == 1:
        return text[:i] + text[i + 1 :]
    if op == 2:
        return text[:i] + text[i] + text[i:]
    near = _KEYBOARD_NEIGHBOURS.get(text[i].lower())
    if not near:
        return text
    return text[:i] + near[int(choice * len(near))] + text[i + 1 :]


def apply_typos(values: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    out = values.copy()
    hit = np.flatnonzero(rng.random(len(out)) < rate)
    ops, wheres, choices = rng.integers(0, 4, len(hit)), rng.random(len(hit)), rng.random(len(hit))
    for i, op, w, c in zip(hit, ops, wheres, choices, strict=True):
        if isinstance(out[i], str):
            out[i] = typo(out[i], int(op), float(w), float(c))
    return out


def blank(values: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Leave a share of values empty, as forms with optional fields do."""
    out = values.copy()
    out[rng.random(len(out)) < rate] = None
    return out


def with_placeholders(values: np.ndarray, rate: float, options: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace a share with junk a clerk types to get past a required field."""
    out = values.copy()
    hit = rng.random(len(out)) < rate
    out[hit] = _pick(rng, options, int(hit.sum()))
    return out


def recase(values: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """UPPER, lower or Title case for a share of values."""
    out = values.copy()
    hit = np.flatnonzero(rng.random(len(out)) < rate)
    kinds = rng.integers(0, 3, len(hit))
    for i, k in zip(hit, kinds, strict=True):
        v = out[i]
        if isinstance(v, str):
            out[i] = v.upper() if k == 0 else v.lower() if k == 1 else v.title()
    return out


def messy_emails(emails: np.ndarray, profile: MessProfile, rng: np.random.Generator) -> np.ndarray:
    """Emails with gmail dot and `+tag` variants, odd case, stray whitespace and junk."""
    out = np.asarray(emails, dtype=object).copy()
    n = len(out)
    u = rng.random((n, 4))
    tags = _pick(rng, ("shop", "news", "promo", "fernhill", "2024", "deals"), n)
    for i in range(n):
        e = out[i]
        if not isinstance(e, str):
            continue
        local, _, domain = e.partition("@")
        if domain == "gmail.com" and u[i, 0] < profile.gmail_variant:
            if "." in local:
                local = local.replace(".", "")
            elif len(local) > 3:
                cut = 1 + int(u[i, 1] * (len(local) - 2))
                local = local[:cut] + "." + local[cut:]
            if u[i, 1] < 0.15:
                domain = "googlemail.com"
        if u[i, 2] < profile.plus_tag:
            local = f"{local}+{tags[i]}"
        out[i] = f"{local}@{domain}"
    out = recase_emails(out, profile.email_case, rng)
    pad = np.flatnonzero(rng.random(n) < profile.email_whitespace)
    for i, k in zip(pad, rng.integers(0, 3, len(pad)), strict=True):
        if isinstance(out[i], str):
            out[i] = (" " + out[i]) if k == 0 else (out[i] + " ") if k == 1 else (" " + out[i] + "  ")
    out = with_placeholders(out, profile.placeholder, PLACEHOLDER_EMAILS, rng)
    return blank(out, profile.missing, rng)


def recase_emails(values: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """`John.Smith@Gmail.com` and `JOHN.SMITH@GMAIL.COM`: case that mail servers ignore."""
    out = values.copy()
    hit = np.flatnonzero(rng.random(len(out)) < rate)
    for i, k in zip(hit, rng.integers(0, 3, len(hit)), strict=True):
        v = out[i]
        if not isinstance(v, str):
            continue
        local, _, domain = v.partition("@")
        if k == 0:
            out[i] = v.upper()
        elif k == 1:
            out[i] = ".".join(p.capitalize() for p in local.split(".")) + "@" + domain
        else:
            out[i] = local + "@" + domain.capitalize()
    return out


def messy_first_names(names: np.ndarray, profile: MessProfile, rng: np.random.Generator) -> np.ndarray:
    """First names with nicknames (Robert → Bob), typos, odd case, accents dropped and gaps."""
    out = np.asarray(names, dtype=object).copy()
    n = len(out)
    nick = np.flatnonzero(rng.random(n) < profile.nickname)
    draws = rng.random(len(nick))
    for i, d in zip(nick, draws, strict=True):
        options = NICKNAMES.get(out[i])
        if options:
            out[i] = options[int(d * len(options))]
    return _messy_name_tail(out, profile, rng)


def messy_last_names(names: np.ndarray, profile: MessProfile, rng: np.random.Generator) -> np.ndarray:
    """Last names with typos, odd case, accents dropped and gaps."""
    return _messy_name_tail(np.asarray(names, dtype=object).copy(), profile, rng)


def _messy_name_tail(out: np.ndarray, profile: MessProfile, rng: np.random.Generator) -> np.ndarray:
    out = apply_typos(out, profile.typo, rng)
    out = recase(out, profile.name_case, rng)
    plain = np.flatnonzero(rng.random(len(out)) < 0.3)
    for i in plain:
        if isinstance(out[i], str) and not out[i].isascii():
            out[i] = strip_accents(out[i])
    spaced = np.flatnonzero(rng.random(len(out)) < profile.name_case / 2)
    for i in spaced:
        if isinstance(out[i], str):
            out[i] = out[i] + " "
    out = with_placeholders(out, profile.placeholder / 3, PLACEHOLDER_NAMES, rng)
    return blank(out, profile.missing, rng)


def _phone_style(country: str, nsn: str, style: int) -> str:
    if country == "US":
        a, b, c = nsn[:3], nsn[3:6], nsn[6:]
        forms = (
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"1 {a} {b} {c}",
            f"+1 {a}-{b}-{c}",
            nsn,
            f"+1 ({a}) {b}-{c}",
            f"{a} {b} {c}",
        )
    elif country == "GB":
        forms = (
            f"0{nsn[:4]} {nsn[4:]}",
            f"0{nsn}",
            f"+44 {nsn[:4]} {nsn[4:]}",
            f"0044 {nsn[:4]} {nsn[4:]}",
            f"+44 (0){nsn[:4]} {nsn[4:]}",
            f"0{nsn[:4]}-{nsn[4:]}",
        )
    elif country == "DE":
        forms = (
            f"0{nsn[:3]} {nsn[3:]}",
            f"0{nsn[:3]}/{nsn[3:]}",
            f"+49 {nsn[:3]} {nsn[3:]}",
            f"0049{nsn}",
            f"0{nsn}",
            f"+49 ({nsn[:3]}) {nsn[3:]}",
        )
    else:
        pairs = " ".join(nsn[i : i + 2] for i in range(1, len(nsn), 2))
        forms = (
            f"0{nsn[0]} {pairs}",
            f"0{nsn[0]}.{pairs.replace(' ', '.')}",
            f"+33 {nsn[0]} {pairs}",
            f"0{nsn}",
            f"0033{nsn}",
            f"+33 (0){nsn[0]} {pairs}",
        )
    return forms[style % len(forms)]


CALLING_CODES = {"US": "1", "GB": "44", "DE": "49", "FR": "33"}


def e164(country: str, nsn: str) -> str:
    return f"+{CALLING_CODES[country]}{nsn}"


def messy_phones(countries: np.ndarray, nsns: np.ndarray, profile: MessProfile, rng: np.random.Generator) -> np.ndarray:
    """Phones in E.164 or one of each country's national ways of writing them."""
    n = len(nsns)
    e164_mask = rng.random(n) < profile.phone_e164
    styles = rng.integers(0, 8, n)
    out = np.empty(n, dtype=object)
    for i in range(n):
        c, s = countries[i], nsns[i]
        out[i] = e164(c, s) if e164_mask[i] else _phone_style(c, s, int(styles[i]))
    out = with_placeholders(out, profile.placeholder, PLACEHOLDER_PHONES, rng)
    return blank(out, profile.missing * 2, rng)


def format_birth_date(day: date, fmt: int) -> str:
    if fmt == 0:
        return day.isoformat()
    if fmt == 1:
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    if fmt == 2:
        return f"{day.month:02d}/{day.day:02d}/{day.year}"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def messy_birth_dates(
    iso_dates: np.ndarray, countries: np.ndarray, profile: MessProfile, rng: np.random.Generator
) -> np.ndarray:
    """Birth dates in four formats (DD/MM and MM/DD collide for days ≤ 12) or missing."""
    n = len(iso_dates)
    weights = np.array(profile.birth_date_formats, dtype=float)
    fmts = rng.choice(4, size=n, p=weights / weights.sum())
    out = np.empty(n, dtype=object)
    for i in range(n):
        v = iso_dates[i]
        if not isinstance(v, str):
            out[i] = None
            continue
        fmt = int(fmts[i])
        if profile.local_date_habit and fmt in (1, 2):
            fmt = 2 if countries[i] == "US" else 1
        out[i] = format_birth_date(date.fromisoformat(v), fmt)
    out = with_placeholders(out, profile.placeholder, PLACEHOLDER_BIRTH_DATES, rng)
    return blank(out, profile.birth_date_missing, rng)


def messy_streets(streets: np.ndarray, profile: MessProfile, rng: np.random.Generator) -> np.ndarray:
    """`12 Oak Street` vs `12 Oak St.`, `Hauptstraße 4` vs `Hauptstr. 4`, odd case, gaps."""
    out = np.asarray(streets, dtype=object).copy()
    hit = np.flatnonzero(rng.random(len(out)) < profile.street_variant)
    draws = rng.random(len(hit))
    for i, d in zip(hit, draws, strict=True):
        v = out[i]
        for long, shorts in _STREET_ABBREVIATIONS:
            if long in v:
                out[i] = v.replace(long, shorts[int(d * len(shorts))], 1)
                break
    out = recase(out, profile.text_case, rng)
    return blank(out, profile.missing, rng)


def messy_postcodes(
    postcodes: np.ndarray, countries: np.ndarray, profile: MessProfile, rng: np.random.Generator
) -> np.ndarray:
    """Postcodes that lost a leading zero (spreadsheets), gained ZIP+4, or lost their space."""
    out = np.asarray(postcodes, dtype=object).copy()
    hit = np.flatnonzero(rng.random(len(out)) < profile.postcode_variant)
    for i, d in zip(hit, rng.random(len(hit)), strict=True):
        v, c = out[i], countries[i]
        if c == "GB":
            out[i] = v.replace(" ", "") if d < 0.5 else v.lower()
        elif v.startswith("0"):
            out[i] = v.lstrip("0")
        elif c == "US":
            out[i] = f"{v}-{int(d * 9000) + 1000}"
    return blank(out, profile.missing, rng)


def messy_countries(countries: np.ndarray, rng: np.random.Generator, canonical: float = 0.6) -> np.ndarray:
    """Country as a code most of the time, otherwise however the person spelled it."""
    out = np.asarray(countries, dtype=object).copy()
    hit = np.flatnonzero(rng.random(len(out)) >= canonical)
    for i, d in zip(hit, rng.random(len(hit)), strict=True):
        spellings = COUNTRY_SPELLINGS[out[i]]
        out[i] = spellings[int(d * len(spellings))]
    return out


def messy_text(values: np.ndarray, profile: MessProfile, rng: np.random.Generator) -> np.ndarray:
    """Free text such as a city: odd case, typos and gaps."""
    out = apply_typos(np.asarray(values, dtype=object), profile.typo / 2, rng)
    out = recase(out, profile.text_case, rng)
    return blank(out, profile.missing, rng)
