"""Activations as analysts declare them: `config.meta.activations` of a segment model, read from the manifest.

The manifest is the one source: the activation DAGs, `tessera sync` and the docs read the same entries,
and parsing them does no I/O beyond the manifest. Every entry is checked when it is read, and a bad one
is refused with the model, the entry and the key named (docs/segments.md lists the keys).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.destinations.base import Mode

SEGMENT_SCHEMA = "segments"
DEFAULT_SCHEDULE = "0 6 * * *"  #: daily, at 06:00 UTC
CONSENTS = ("marketing", "none")
IDENTIFIERS = ("email", "phone")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_KEYS = {"destination", "mode", "schedule", "identifiers", "consent", "fields"}


class ActivationError(ValueError):
    """An activation entry that cannot be synced as written."""


@dataclass(frozen=True)
class Activation:
    """One segment synced to one destination."""

    segment: str
    destination: str  #: the Airflow connection `tessera_dest_<destination>`
    mode: Mode
    schedule: str = DEFAULT_SCHEDULE
    identifiers: tuple[str, ...] = ("email",)
    consent: str = "marketing"
    #: destination field -> column of the segment or of marts.golden_customers
    fields: dict[str, str] = field(default_factory=dict)
    segment_relation: str = ""  #: `segments.<name>` as built

    @property
    def name(self) -> str:
        return f"{self.segment} -> {self.destination}"

    @property
    def conn_id(self) -> str:
        return f"tessera_dest_{self.destination}"

    @property
    def marketing(self) -> bool:
        return self.consent == "marketing"


def read_activations(manifest_path: Path) -> list[Activation]:
    """Every activation of every segment model in a dbt manifest, in segment then declaration order."""
    activations = []
    for node in _segment_nodes(manifest_path):
        entries = (node.get("config", {}).get("meta") or {}).get("activations") or []
        if not isinstance(entries, list):
            raise ActivationError(f"segment {node['name']}: meta.activations must be a list of entries")
        relation = f"{node.get('schema') or SEGMENT_SCHEMA}.{node.get('alias') or node['name']}"
        seen = set()
        for position, entry in enumerate(entries, start=1):
            activation = parse_activation(node["name"], position, entry, relation)
            if activation.destination in seen:
                raise ActivationError(
                    f"segment {node['name']}: destination {activation.destination!r} is activated twice"
                )
            seen.add(activation.destination)
            activations.append(activation)
    return activations


def parse_activation(segment: str, position: int, entry: Any, relation: str = "") -> Activation:
    """One `meta.activations` entry, checked; errors name the segment, the entry and the key."""
    where = f"segment {segment}, activation {position}"
    if not isinstance(entry, dict):
        raise ActivationError(f"{where}: an activation is a mapping with destination, mode, ... (got {entry!r})")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ActivationError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; keys: {', '.join(sorted(_KEYS))}")
    destination = entry.get("destination")
    if not isinstance(destination, str) or not _NAME.match(destination):
        raise ActivationError(
            f"{where}: destination must be a name in lower case (the connection tessera_dest_<name>), got {destination!r}"
        )
    where = f"segment {segment}, activation of {destination}"
    try:
        mode = Mode(entry.get("mode"))
    except ValueError:
        raise ActivationError(
            f"{where}: mode must be one of {', '.join(m.value for m in Mode)}, got {entry.get('mode')!r}"
        ) from None
    schedule = entry.get("schedule", DEFAULT_SCHEDULE)
    if not isinstance(schedule, str) or not _valid_cron(schedule):
        raise ActivationError(f"{where}: schedule must be a cron expression such as '0 6 * * *', got {schedule!r}")
    identifiers = entry.get("identifiers", ["email"])
    if isinstance(identifiers, str):
        identifiers = [identifiers]
    if not isinstance(identifiers, list) or not all(i in IDENTIFIERS for i in identifiers):
        raise ActivationError(f"{where}: identifiers must be a list of {', '.join(IDENTIFIERS)}, got {identifiers!r}")
    consent = entry.get("consent", "marketing")
    if consent not in CONSENTS:
        raise ActivationError(f"{where}: consent must be one of {', '.join(CONSENTS)}, got {consent!r}")
    fields = entry.get("fields") or {}
    if isinstance(fields, list):  # a list of columns maps each to a field of the same name
        fields = {column: column for column in fields}
    if not isinstance(fields, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise ActivationError(f"{where}: fields must map destination field names to column names, got {fields!r}")
    return Activation(
        segment=segment,
        destination=destination,
        mode=mode,
        schedule=schedule,
        identifiers=tuple(dict.fromkeys(identifiers)),
        consent=consent,
        fields=dict(fields),
        segment_relation=relation or f"{SEGMENT_SCHEMA}.{segment}",
    )


def _valid_cron(expression: str) -> bool:
    from croniter import croniter

    return croniter.is_valid(expression)


def segment_models(manifest_path: Path) -> list[str]:
    """The names of the enabled segment models in a dbt manifest."""
    return [node["name"] for node in _segment_nodes(manifest_path)]


def _segment_nodes(manifest_path: Path) -> list[dict]:
    manifest = json.loads(Path(manifest_path).read_text())
    return sorted(
        (
            node
            for node in manifest.get("nodes", {}).values()
            if node.get("resource_type") == "model"
            and node.get("config", {}).get("schema") == SEGMENT_SCHEMA
            and node.get("config", {}).get("enabled", True)
        ),
        key=lambda node: node["name"],
    )
