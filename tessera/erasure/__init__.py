"""Erasure of a person's stored data (the right to be forgotten): `forget(home, request)`.

Modules, one concept each: `requests` (what a request names), `resolve` (who that is and every value that
names them), `lake`, `state`, `warehouse` and `files` (erasing them from each place), `suppression` (the
hashed list later extractions drop them by), `service` (the order of the steps), `requests_folder` (request
files) and `dag` (serving them on a schedule). The names below load their module on first use, so that the
DAG file, which imports `tessera.erasure.dag`, pulls in no heavy library at parse time.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ErasureReport": "tessera.erasure.service",
    "forget": "tessera.erasure.service",
    "ErasureRequest": "tessera.erasure.requests",
    "InvalidRequest": "tessera.erasure.requests",
    "parse_request": "tessera.erasure.requests",
    "request_from_document": "tessera.erasure.requests",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tessera.erasure' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
