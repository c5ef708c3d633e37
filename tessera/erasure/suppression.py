"""The suppression list: hashed identifiers of erased people, so that later extractions drop their records
at landing (`connectors.extraction.Suppression` reads it).

It holds SHA-256 hashes of normalised values, never the values: e-mails trimmed and lower-cased and phones
in E.164, as the ad-tool hashing normalises them (`connectors/destinations/hashing.py`), so one definition
serves both. A connector sees a phone as the source wrote it, without a country to read it in, so the list
also holds the hash of the digits of every spelling the sources used (`phone_digits`). Ids are trimmed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from filelock import FileLock

from connectors.destinations.hashing import e164, normal_email, sha256_hex
from connectors.durable import write_atomically
from connectors.extraction import SUPPRESSION_FILE
from tessera.home import TesseraHome

VERSION = 1


def suppression_path(home: TesseraHome) -> Path:
    """Beside the connector state, where every extraction looks for it."""
    return home.state / SUPPRESSION_FILE


def suppression_hash(identifier_type: str, value: str) -> str:
    """The hash the list keeps for one identifier (`email`, `phone`, `phone_digits`, an id type)."""
    if identifier_type == "email":
        return sha256_hex(normal_email(value))
    if identifier_type == "phone":
        return sha256_hex(e164(value))
    if identifier_type == "phone_digits":
        return sha256_hex("".join(ch for ch in value if ch.isdigit()))
    return sha256_hex(value.strip())


def load_suppressed(home: TesseraHome) -> dict[str, set[str]]:
    """Hashes by identifier type."""
    path = suppression_path(home)
    if not path.exists():
        return {}
    document = json.loads(path.read_text())
    return {kind: set(values) for kind, values in (document.get("sha256") or {}).items()}


def is_suppressed(home: TesseraHome, identifier_type: str, value: str) -> bool:
    return suppression_hash(identifier_type, value) in load_suppressed(home).get(identifier_type, set())


def suppress(home: TesseraHome, identifiers: Iterable[tuple[str, str]]) -> int:
    """Add (identifier type, plain value) pairs to the list, hashed; returns how many hashes were new.

    Replaced atomically under a lock, so two erasures never lose each other's entries."""
    path = suppression_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_suffix(".lock")):
        current = load_suppressed(home)
        added = 0
        for identifier_type, value in identifiers:
            if not value or not value.strip():
                continue
            digest = suppression_hash(identifier_type, value)
            if digest not in current.setdefault(identifier_type, set()):
                current[identifier_type].add(digest)
                added += 1
        if added:
            document = {
                "version": VERSION,
                "sha256": {kind: sorted(values) for kind, values in sorted(current.items())},
            }
            write_atomically(path, json.dumps(document, indent=1) + "\n")
    return added
