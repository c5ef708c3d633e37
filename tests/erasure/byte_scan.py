"""Where a person's values are still written under `$TESSERA_HOME`: the raw bytes of every file, and, since
Parquet compresses its pages, the decoded text of every Parquet file as well."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq

#: The demo's source systems live in the home too; they are the sources, not Tessera's copy of them.
NOT_TESSERA = ("simulator",)


def tessera_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and p.relative_to(root).parts[0] not in NOT_TESSERA
    )


def parquet_text(path: Path) -> bytes:
    table = pq.ParquetFile(path).read()
    parts = []
    for name in table.column_names:
        if str(table[name].type) in ("string", "large_string"):
            parts.extend(v for v in table[name].to_pylist() if v)
    return "\n".join(parts).encode()


def occurrences(root: Path, values: Iterable[str]) -> dict[str, list[str]]:
    """Each value (case-insensitive) -> the files, relative to `root`, that hold it."""
    needles = {value: value.lower().encode() for value in values}
    found: dict[str, list[str]] = {value: [] for value in needles}
    for path in tessera_files(root):
        data = path.read_bytes().lower()
        if path.suffix == ".parquet":
            data += b"\n" + parquet_text(path).lower()
        for value, needle in needles.items():
            if needle in data:
                found[value].append(str(path.relative_to(root)))
    return {value: files for value, files in found.items() if files}
