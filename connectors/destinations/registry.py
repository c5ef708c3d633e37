"""Destination kinds: an Airflow connection `tessera_dest_<name>` names its kind in `extra.kind`.

One module per kind in this package; this table is the one place that maps a kind to its connector.
Classes are imported when a sync needs them, so reading activations stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.destinations.base import Destination

KINDS = {
    "ad_audience": "connectors.destinations.ad_audience:AdAudienceDestination",
    "crm": "connectors.destinations.crm:CrmDestination",
    "esp_list": "connectors.destinations.esp_list:EspListDestination",
    "webhook": "connectors.destinations.webhook:WebhookDestination",
    "postgres": "connectors.destinations.postgres:PostgresDestination",
    "files": "connectors.destinations.files:FilesDestination",
    "email": "connectors.destinations.email:EmailDestination",
}


class UnknownKindError(ValueError):
    pass


def destination_class(kind: str) -> type[Destination]:
    """The connector class of a destination kind, or an error listing the kinds there are."""
    try:
        module, name = KINDS[kind].split(":")
    except KeyError:
        raise UnknownKindError(f"unknown destination kind {kind!r}; kinds: {', '.join(sorted(KINDS))}") from None
    return getattr(import_module(module), name)
