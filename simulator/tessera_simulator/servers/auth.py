"""Bearer-token check shared by both APIs (the fault and stats endpoints skip it)."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Request

from tessera_simulator.servers.api_errors import ApiError


def bearer_auth(token: str) -> Callable[[Request], None]:
    """A FastAPI dependency that answers 401 unless `Authorization: Bearer <token>` is sent."""
    if not token:
        raise ValueError("an API token is required (got an empty one)")
    expected = f"Bearer {token}".encode()

    def check(request: Request) -> None:
        got = request.headers.get("authorization")
        if got is None:
            raise ApiError(
                401, "authentication required: send 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"}
            )
        if not hmac.compare_digest(got.encode(), expected):
            raise ApiError(401, "the bearer token is not valid", {"WWW-Authenticate": "Bearer"})

    return check
