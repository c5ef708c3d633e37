"""Where the lake lives: a local folder (the embedded default) or a bucket on S3-compatible object storage.

The lake code works on one kind of path for both: `pathlib.Path` for a folder, universal-pathlib's `UPath`
(fsspec underneath, s3fs for `s3://`) for a bucket, which has the same interface. What differs is what the
storage guarantees: a local folder renames atomically, so a batch is written under a temporary name and renamed
into place; object storage has no rename, only single objects written whole, so a batch's `_SUCCESS` written
last lists its files (`connectors/lake.py`, docs/landing-contract.md).

Credentials and the endpoint come from the standard AWS variables (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL` for an S3-compatible server, `AWS_REGION`), never from the lake's
address, so no secret sits in a configuration file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TypeAlias

from upath import UPath

#: A path in the lake: a local `Path`, or a `UPath` on object storage.
LakePath: TypeAlias = Path | UPath

#: The environment variable that puts the lake somewhere other than `$TESSERA_HOME/lake`.
LAKE_VARIABLE = "TESSERA_LAKE"


def lake_path(location: str | os.PathLike | LakePath) -> LakePath:
    """`location` as a lake path: a URL with a scheme (`s3://bucket/lake`) on its filesystem, else a local path."""
    if isinstance(location, UPath) and not is_local(location):
        return location
    text = str(location)
    if "://" in text and not text.startswith("file://"):
        return UPath(text)
    return Path(text.removeprefix("file://"))


def is_local(path: LakePath) -> bool:
    return not isinstance(path, UPath) or getattr(path, "protocol", "") in ("", "file", "local")


def renames_atomically(path: LakePath) -> bool:
    """Whether a folder under `path` can be renamed into place in one step (a local filesystem can;
    object storage cannot)."""
    return is_local(path)


def remove_tree(path: LakePath, missing_ok: bool = False) -> None:
    """Delete a folder (a prefix, on object storage) and everything under it."""
    if is_local(path):
        shutil.rmtree(path, ignore_errors=missing_ok)
        return
    try:
        path.fs.rm(path.path, recursive=True)
    except FileNotFoundError:
        if not missing_ok:
            raise


def register_with_duckdb(conn, lake: LakePath) -> None:
    """Let a DuckDB connection read `lake` when it is on object storage: DuckDB reads `s3://…` paths through
    the lake's own fsspec filesystem (no DuckDB extension to download). A local lake needs nothing."""
    if is_local(lake):
        return
    protocol = lake.fs.protocol if isinstance(lake.fs.protocol, str) else lake.fs.protocol[0]
    if not conn.filesystem_is_registered(protocol):
        conn.register_filesystem(lake.fs)
