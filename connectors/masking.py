"""Masking identifiers for display: enough to recognise a value, not enough to copy it.

Here, in the lowest layer, so connector errors (a destination naming a refused address) and
`tessera explain` or the checks' messages mask the same way."""

from __future__ import annotations

import re


def mask_identifier(identifier_type: str, value: str | None) -> str | None:
    if value is None:
        return None
    if identifier_type == "email" and "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if identifier_type == "phone":
        return value[:3] + "*" * max(len(value) - 6, 0) + value[-3:]
    return value


#: An e-mail address anywhere in text: plus addressing, dots, subdomains, any case. A masked address
#: (`a***@example.com`) no longer matches: `*` is not part of a local part.
_EMAIL = re.compile(r"(?<![\w.%+'*-])[\w.%+'-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")

#: Something shaped like a phone number: an optional `+`, then digits in groups separated by one space,
#: hyphen, dot or slash, with optional parentheses (`+44 (0)20 7946 0958`, `(415) 555-0132`, `0151/2345678`).
#: Not part of a word, a path, a version or a masked value, and not followed by a time (`12:30`) or more of
#: a number; `_looks_like_phone` then tells phones from dates, ids and amounts.
_PHONE_CANDIDATE = re.compile(r"(?<![\w+*@/.#-])[+(]?\d(?:[ ./-]?\(?\d(?:\)(?=[ ./-]?\d))?)+(?![\w*@])(?![-./:]\d)")
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
#: A bare national number: a trunk prefix (`01511234567`, `07700900123`, `0049…`) or a North American
#: number written without separators (`4155550132`, area code and exchange starting 2-9).
_BARE_NATIONAL = re.compile(r"0\d{8,14}|1?[2-9]\d{2}[2-9]\d{6}")


def _looks_like_phone(candidate: str) -> bool:
    """Whether a phone-shaped run of digits is a phone number rather than a date, an id or an amount."""
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15 or _DATE.search(candidate):
        return False
    if candidate.startswith("+"):
        return True
    groups = [g for g in re.split(r"[ ./()-]+", candidate) if g]
    if len(groups) == 1:
        return bool(_BARE_NATIONAL.fullmatch(digits))
    if sum(len(g) == 1 for g in groups) > 1:  # a list of small numbers, not a phone
        return False
    separators = set(re.findall(r"[ ./-]", candidate))
    if separators <= {"."} and all(len(g) == 3 for g in groups[1:]):  # thousands: 1.234.567
        return False
    return not (separators == {"."} and len(groups) == 2)  # an amount: 12345.67


def mask_text(text: str) -> str:
    """Mask every e-mail address and phone number in free text (a log line, an error message), the way
    `mask_identifier` masks one value, so logs show which kind of identifier was involved but never the
    identifier itself. Dates, ids, timestamps and amounts are left as they are."""
    if not text:
        return text
    text = _EMAIL.sub(lambda m: mask_identifier("email", m.group()), text)
    return _PHONE_CANDIDATE.sub(
        lambda m: mask_identifier("phone", m.group()) if _looks_like_phone(m.group()) else m.group(), text
    )
