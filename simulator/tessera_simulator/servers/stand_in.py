"""The parts every API stand-in shares: bearer auth, JSON errors, and fault injection with `/_faults`."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from tessera_simulator.servers.api_errors import install_error_handlers
from tessera_simulator.servers.auth import bearer_auth
from tessera_simulator.servers.faults import FaultInjector, FaultMiddleware


def stand_in_app(title: str, token: str) -> FastAPI:
    app = FastAPI(
        title=title,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(bearer_auth(token))],
    )
    install_error_handlers(app)
    app.state.faults = FaultInjector()
    app.add_middleware(FaultMiddleware, injector=app.state.faults)
    return app
