"""Sources and destinations are Airflow connections: `tessera_<source>` and `tessera_dest_<name>`.

Data engineers set them the Airflow way: `AIRFLOW_CONN_TESSERA_CRM`, the UI, or a secrets
backend. The same lookup serves Airflow tasks and the `tessera extract` / `tessera sync` commands,
so both read the same configuration and no secret lives in code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from connectors.connection import ConnectionInfo
from connectors.registry import registry


def connection_info(source: str) -> ConnectionInfo:
    """The connection of a registered source."""
    return _connection(registry().source(source).conn_id, f"source {source!r}", "docs/connectors.md")


def destination_connection(destination: str) -> ConnectionInfo:
    """The connection of a destination named in a segment's activations."""
    return _connection(f"tessera_dest_{destination}", f"destination {destination!r}", "docs/destinations.md")


def _connection(conn_id: str, what: str, docs: str) -> ConnectionInfo:
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # Airflow raises its own NotFound type, which moved between versions
        raise RuntimeError(
            f"{what}: Airflow connection {conn_id!r} is not defined; set AIRFLOW_CONN_{conn_id.upper()} "
            f"or add it in the Airflow UI (see {docs})"
        ) from exc
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=conn.conn_type,
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        schema=conn.schema,
        extra=extra,
    )


@contextmanager
def exported(env: dict[str, str]) -> Iterator[None]:
    """Set environment variables (connections, say) for the block, then put back what was there."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def connection_env(conn_id: str, **fields) -> dict[str, str]:
    """The environment variable that defines an Airflow connection, in Airflow's JSON form."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps({k: v for k, v in fields.items() if v is not None})}
