"""Point the dbt profile's `postgres` target (and the lake loader) at one database, for a block of a test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa


@contextmanager
def postgres_target(url: str) -> Iterator[dict[str, str]]:
    """Set `TESSERA_PG_*` from a SQLAlchemy URL (e.g. one of `throwaway_postgres_database()`)."""
    parsed = sa.make_url(url)
    env = {
        "TESSERA_PG_HOST": parsed.host or "127.0.0.1",
        "TESSERA_PG_PORT": str(parsed.port or 5432),
        "TESSERA_PG_USER": parsed.username or "postgres",
        "TESSERA_PG_PASSWORD": parsed.password or "",
        "TESSERA_PG_DBNAME": parsed.database,
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield env


def connect(env: dict[str, str]):
    """A psycopg2 connection to the database `postgres_target` points at."""
    import psycopg2

    return psycopg2.connect(
        host=env["TESSERA_PG_HOST"],
        port=int(env["TESSERA_PG_PORT"]),
        user=env["TESSERA_PG_USER"],
        password=env["TESSERA_PG_PASSWORD"] or None,
        dbname=env["TESSERA_PG_DBNAME"],
    )
