"""The person's rows out of the lake (`raw/` and `quarantine/`), one Parquet file at a time.

Only files holding a row of theirs are rewritten: the other rows, in their order and with the file's schema,
go to a temporary file beside it (named with a leading `.`, which no reader takes), which is fsynced and
renamed over the original, so a reader or a crash sees the old file or the new one, never half of one. Every
other file stays byte-identical. The batch folders and their markers stay as they are: the batch is still the
same batch, with fewer rows. Each stream is rewritten under its extraction lock, so no extraction replaces a
batch folder under the rewrite.

A row is the person's when one of its columns, trimmed and lower-cased, is one of the values that name them,
or when its JSON text (`_record`, `properties`) holds one of them as a JSON string.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors.durable import replace_durably
from connectors.extraction import fingerprint
from connectors.lake import open_parquet
from connectors.lake_storage import LakePath, is_local, renames_atomically
from connectors.registry import registry
from connectors.state import StateStore
from tessera.erasure.resolve import ErasurePlan
from tessera.home import TesseraHome

log = logging.getLogger(__name__)

ZONES = ("raw", "quarantine")
#: Columns holding JSON text: searched for the person's values as JSON strings, not compared whole.
JSON_COLUMNS = frozenset({"_record", "properties"})
#: Columns of free text (a quarantine reason may quote the value it refused): searched for the values as text.
TEXT_COLUMNS = frozenset({"_reason"})
#: Columns whose values, in the person's rows, are spellings of their identifiers as the source wrote them.
SPELLING_COLUMNS = frozenset({"email", "receipt_email", "phone", "user_id", "_record_id"})
_ERASING_SUFFIX = ".erasing"


@dataclass
class LakeErasure:
    """What the rewrite did, by zone."""

    rows: dict[str, int] = field(default_factory=lambda: {zone: 0 for zone in ZONES})
    files: dict[str, int] = field(default_factory=lambda: {zone: 0 for zone in ZONES})


def lake_files(home: TesseraHome, zone: str, source: str, stream: str) -> list[LakePath]:
    """Every Parquet file of a stream in a zone, set-aside and temporary batch folders included: an
    interrupted extraction's leftovers hold rows as well."""
    folder = home.lake / zone / source / stream
    return sorted(folder.rglob("*.parquet")) if folder.exists() else []


def person_rows(table: pa.Table, tokens: pa.Array, needles: list[str]) -> pa.Array:
    """A boolean mask of the rows that name the person. `needles` are the plain values to look for in text."""
    mask = pa.array([False] * table.num_rows, type=pa.bool_())
    quoted = [json.dumps(needle, ensure_ascii=False) for needle in needles]
    for name in table.column_names:
        column = table[name]
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            continue
        if name in JSON_COLUMNS or name in TEXT_COLUMNS:
            for needle in quoted if name in JSON_COLUMNS else needles:
                mask = pc.or_(mask, pc.fill_null(pc.match_substring(column, needle, ignore_case=True), False))
        else:
            normal = pc.utf8_lower(pc.utf8_trim_whitespace(column))
            mask = pc.or_(mask, pc.fill_null(pc.is_in(normal, value_set=tokens), False))
    return mask


def _matchers(plan: ErasurePlan) -> tuple[pa.Array, list[str]]:
    return pa.array(sorted(plan.exact_tokens()), type=pa.string()), plan.text_needles()


def _streams() -> Iterator[tuple[str, str, str]]:
    for contract in registry().streams:
        yield contract.source, contract.stream, contract.key


def find_spellings(home: TesseraHome, plan: ErasurePlan) -> None:
    """Add to the plan the spellings the sources wrote in the person's rows and the fingerprints the connectors
    keep of their records, and the keys of their rows (an event id is a cursor's key in the state). A spelling
    that also appears in someone else's row is left out: it is not theirs alone (a shop's phone typed on every
    receipt)."""
    tokens, needles = _matchers(plan)
    theirs: set[str] = set()
    for source, stream, key, table, mask in _scan(home, tokens, needles):
        if not pc.any(mask).as_py():
            continue
        mine = table.filter(mask)
        for name in SPELLING_COLUMNS & set(table.column_names):
            theirs |= {v.strip() for v in mine[name].to_pylist() if v and v.strip()}
        if key in mine.column_names:
            plan.record_ids |= {str(v) for v in mine[key].to_pylist() if v is not None}
        if "_record" in table.column_names:
            plan.fingerprints.setdefault(f"{source}.{stream}", set()).update(
                fingerprint(record) for record in mine["_record"].to_pylist() if record
            )
    candidates = pa.array(sorted({value.lower() for value in theirs} - set(tokens.to_pylist())), type=pa.string())
    shared: set[str] = set()
    if len(candidates):
        for *_, table, mask in _scan(home, tokens, needles):
            rest = table.filter(pc.invert(mask))
            for name in SPELLING_COLUMNS & set(table.column_names):
                normal = pc.utf8_lower(pc.utf8_trim_whitespace(rest[name]))
                shared |= set(normal.filter(pc.fill_null(pc.is_in(normal, value_set=candidates), False)).to_pylist())
    plan.spellings |= {value for value in theirs if value.lower() not in shared}


def _scan(home: TesseraHome, tokens: pa.Array, needles: list[str]):
    """Every non-empty lake file with the mask of the person's rows in it."""
    for source, stream, key in _streams():
        for zone in ZONES:
            for path in lake_files(home, zone, source, stream):
                table = open_parquet(path).read()
                if table.num_rows:
                    yield source, stream, key, table, person_rows(table, tokens, needles)


def erase_from_lake(home: TesseraHome, plan: ErasurePlan) -> LakeErasure:
    """Rewrite every lake file that holds a row of the person's, without those rows."""
    tokens, needles = _matchers(plan)
    done = LakeErasure()
    for source, stream, _ in _streams():
        store = StateStore(home.state, source, stream)
        with store.lock():
            for zone in ZONES:
                for path in lake_files(home, zone, source, stream):
                    removed = rewrite_without(path, tokens, needles)
                    if removed:
                        done.rows[zone] += removed
                        done.files[zone] += 1
                        where = path.relative_to(home.root) if is_local(path) else path
                        log.info("erased %d rows from %s", removed, where)
    return done


def rewrite_without(path: LakePath, tokens: pa.Array, needles: list[str]) -> int:
    """Rewrite one Parquet file without the person's rows, atomically; returns how many rows went (0: untouched).
    On object storage the object is replaced whole by one upload (an upload that fails leaves the old one)."""
    parquet = open_parquet(path)
    table = parquet.read()
    if table.num_rows == 0:
        return 0
    mask = person_rows(table, tokens, needles)
    removed = pc.sum(pc.cast(mask, pa.int64())).as_py() or 0
    if not removed:
        return 0
    kept = table.filter(pc.invert(mask))
    compression = (
        parquet.metadata.row_group(0).column(0).compression.lower() if parquet.metadata.num_row_groups else "zstd"
    )
    codec = compression if compression != "uncompressed" else "none"
    if not renames_atomically(path):
        with path.open("wb") as sink:
            pq.write_table(kept, sink, compression=codec)
        return removed
    tmp = path.with_name(f".{path.name}{_ERASING_SUFFIX}")
    try:
        pq.write_table(kept, tmp, compression=codec)
        replace_durably(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return removed
