"""How ad platforms want identifiers normalised and hashed before they are uploaded, in one place.

Ad platforms match people on the SHA-256 (lower-case hex) of an identifier normalised by their own rules,
so one stray `+` or capital letter means a member who never matches, without any error. E-mail addresses
are trimmed and lower-cased, and nothing more: Gmail dots and plus tags stay, because the platform hashes
the address its user typed, not the canonical form identity matching uses. Phone numbers arrive in E.164
(`+14155550100`); Meta wants the digits without the `+`, Google Customer Match keeps it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence

E164 = re.compile(r"\+[1-9]\d{1,14}")


def normal_email(value: str) -> str:
    email = value.strip().lower()
    if not email:
        raise ValueError("the e-mail address is empty")
    return email


def e164(value: str) -> str:
    phone = value.strip()
    if not E164.fullmatch(phone):  # the number itself stays out of the message: it is personal data
        raise ValueError("the phone number is not in E.164 form ('+' and up to 15 digits)")
    return phone


def e164_digits(value: str) -> str:
    return e164(value)[1:]


#: platform -> identifier name -> (the platform's name for it in an upload's schema, its normaliser)
PLATFORMS: dict[str, dict[str, tuple[str, Callable[[str], str]]]] = {
    "meta": {"email": ("EMAIL", normal_email), "phone": ("PHONE", e164_digits)},
    "google": {"email": ("EMAIL", normal_email), "phone": ("PHONE", e164)},
}


def rules(platform: str) -> dict[str, tuple[str, Callable[[str], str]]]:
    """A platform's identifier rules, or an error listing the platforms there are."""
    try:
        return PLATFORMS[platform]
    except KeyError:
        raise ValueError(f"unknown ad platform {platform!r}; platforms: {', '.join(sorted(PLATFORMS))}") from None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hashed(platform: str, identifier: str, value: str) -> str:
    """The hash `platform` matches `identifier` (`email`, `phone`) on."""
    try:
        _, normalise = rules(platform)[identifier]
    except KeyError:
        raise ValueError(
            f"{platform} does not match on {identifier!r}; it takes {', '.join(rules(platform))}"
        ) from None
    return sha256_hex(normalise(value))


def hashed_rows(platform: str, people: Sequence[Mapping[str, str]]) -> tuple[list[str], list[list[str]]]:
    """A multi-key upload of `people` (identifier name -> value): the schema, then one row of hashes each.

    The schema holds the platform's names for the identifiers present in `people`, in the platform's
    order; a person without one of them has "" in that column (the multi-key format's "not known")."""
    schema, columns = [], []
    for identifier, (name, normalise) in rules(platform).items():
        values = [person.get(identifier) for person in people]
        if any(values):
            schema.append(name)
            columns.append([sha256_hex(normalise(value)) if value else "" for value in values])
    if not columns:
        return schema, [[] for _ in people]
    return schema, [list(row) for row in zip(*columns, strict=True)]
