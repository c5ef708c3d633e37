"""Opening a DuckDB file that another process may hold: DuckDB lets one process write a file, and a writer
locks every other process out, so a build, a serving, a publication and an erasure take turns. The caller says
what it could not do and when to try again; DuckDB's own message follows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def connect_or_explain(
    path: Path, explain: str, *, read_only: bool = False, error: type[Exception] = RuntimeError
) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect(path)`, or `error("<explain>. DuckDB said: …")` when another process holds the file."""
    import duckdb

    try:
        return duckdb.connect(str(path), read_only=read_only)
    except (duckdb.IOException, duckdb.ConnectionException) as exc:
        raise error(f"{explain}. DuckDB said: {exc}") from exc
