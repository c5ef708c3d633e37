"""The person out of the text files under `$TESSERA_HOME`: logs, Great Expectations results and Data Docs,
reports, the lake's batch markers. Every spelling of their values is replaced by a mask of the same kind of
text (`[erased]`: no quote, no backslash), so a JSON file stays valid JSON and an HTML page stays HTML.

Binary files (a NUL byte in them) are not text: the lake's Parquet and the DuckDB files have their own
erasure. Folders with an owner of their own are left to it: the source systems' stores of the demo
(`simulator/`), the connector state (`tessera.erasure.state`), the activation state (`activation/`, erased
by `tessera.activation.erasure`), the append-only audit log (`audit/`, which holds hashes only), the
request files waiting to be served (`requests/`, `tessera.erasure.dag`) and the plans of requests being
served (`erasure/pending/`).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from connectors.durable import write_atomically
from tessera.erasure.resolve import ErasurePlan
from tessera.home import TesseraHome

log = logging.getLogger(__name__)

MASK = "[erased]"
#: Top-level folders of `$TESSERA_HOME` this module never touches (see the module's docstring).
NOT_MINE = frozenset({"simulator", "state", "activation", "audit", "published", "requests"})
_NOT_MINE_PATHS = (Path("erasure") / "pending",)


def scrub_files(home: TesseraHome, plan: ErasurePlan) -> int:
    """Mask the person's values in every text file of the home; returns how many files changed."""
    needles = plan.text_needles()
    if not needles or not home.root.exists():
        return 0
    pattern = re.compile("|".join(re.escape(needle) for needle in needles), re.IGNORECASE)
    changed = 0
    for path in _text_candidates(home):
        if _scrub(path, pattern):
            changed += 1
            log.info("masked erased values in %s", path.relative_to(home.root))
    return changed


def _text_candidates(home: TesseraHome):
    for directory, subdirs, files in os.walk(home.root):
        here = Path(directory)
        relative = here.relative_to(home.root)
        if relative == Path("."):
            subdirs[:] = [d for d in subdirs if d not in NOT_MINE]
        subdirs[:] = [d for d in subdirs if (relative / d) not in _NOT_MINE_PATHS]
        for name in files:
            path = here / name
            if path.suffix in (".parquet", ".duckdb", ".wal", ".db", ".sqlite", ".lock") or path.is_symlink():
                continue
            yield path


def _scrub(path: Path, pattern: re.Pattern) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if b"\0" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    scrubbed, count = pattern.subn(MASK, text)
    if not count:
        return False
    write_atomically(path, scrubbed)
    return True
