"""How a connector is told where its source is: the fields of an Airflow connection, without Airflow.

Connectors must not import Airflow (they run from the CLI and tests too), yet data engineers
configure sources as Airflow connections (`AIRFLOW_CONN_TESSERA_CRM`, the UI, a secrets
backend). `tessera.connections` copies an Airflow connection into this plain record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class ConnectionInfo:
    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def base_url(self) -> str:
        """The base URL of an HTTP API connection (`http://host:port[/path]`)."""
        if not self.host:
            raise ValueError(f"connection {self.conn_id!r} has no host; set it to the API's base URL")
        if "://" in self.host:
            return self.host.rstrip("/")
        scheme = self.schema if self.schema in ("http", "https") else self.conn_type
        scheme = scheme if scheme in ("http", "https") else "https"
        port = f":{self.port}" if self.port else ""
        return f"{scheme}://{self.host}{port}"

    def option(self, key: str, default: Any, kind: type = str) -> Any:
        """A typed option from the connection's extra, with an error naming connection and key."""
        value = self.extra.get(key, default)
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"connection {self.conn_id!r}: extra {key!r} must be {kind.__name__}, got {value!r}"
            ) from None

    def lookback(self, default_hours: float = 6.0) -> timedelta:
        return timedelta(hours=self.option("lookback_hours", default_hours, float))
