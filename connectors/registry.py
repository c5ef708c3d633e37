"""The registry: every source Tessera collects, found from its folder under `connectors/sources/`.

One source is one folder, the way dlt keeps its verified sources: `connectors/sources/<name>/__init__.py`
declares `SOURCE = Source(...)` (its streams' contracts, its connection, its schedule) and the folder
holds the code that reads it and a README. Everything else derives from here: the extract DAGs and their
tags, the transform DAG's Assets, the dbt sources YAML and the landing-contract tables (`tessera generate`),
the lake report, the simulator's and the benchmarks' stream lists, and the tests' parametrisation.
Destinations (`connectors/destinations/<kind>/`) register the same way, with their own spec type.

Reading the registry imports only the source folders' `__init__` modules, which stay light (no pyarrow,
httpx or SQLAlchemy), so DAG files can read it at parse time.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.contract import StreamContract

if TYPE_CHECKING:
    from connectors.base import Stream
    from connectors.connection import ConnectionInfo

SOURCES_PACKAGE = "connectors.sources"


class UnknownNameError(KeyError):
    """A source or stream name the registry does not know; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ConnectionOption:
    """A setting in the connection's `extra`, with its default as the docs show it."""

    name: str
    default: str
    description: str = ""


@dataclass(frozen=True)
class ConnectionSpec:
    """How a data engineer points Tessera at the source: an Airflow connection of this type."""

    conn_type: str
    fields: str
    options: tuple[ConnectionOption, ...] = ()


@dataclass(frozen=True)
class Freshness:
    """When dbt warns that a source has not landed anything new."""

    count: int
    period: str  # minute | hour | day


@dataclass(frozen=True)
class Source:
    """One source system: the streams it lands, how it is reached and how often it is read.

    `name` is the source's one name: its lake folder, dbt source, Airflow connection suffix
    (`tessera_<name>`), DAG id (`tessera_extract_<name>`) and DAG tag (`source:<name>`).
    `factory` is the dotted path (`module:function`) of the function that builds its streams from a
    connection; it is imported only when an extraction runs.
    """

    name: str
    system: str
    description: str
    schedule: str
    connection: ConnectionSpec
    streams: tuple[StreamContract, ...]
    factory: str
    incremental_by: str = ""
    freshness: Freshness = field(default_factory=lambda: Freshness(2, "day"))

    def __post_init__(self) -> None:
        for contract in self.streams:
            if contract.source != self.name:
                raise ValueError(f"source {self.name!r} declares stream {contract.name}, which names another source")
        if ":" not in self.factory:
            raise ValueError(f"source {self.name!r}: factory must be 'module:function', got {self.factory!r}")

    @property
    def conn_id(self) -> str:
        return f"tessera_{self.name}"

    @property
    def dag_id(self) -> str:
        return f"tessera_extract_{self.name}"

    @property
    def tag(self) -> str:
        return f"source:{self.name}"

    def folder(self) -> Path:
        """The source's folder: where its factory's module lives (imports the reading code)."""
        return Path(importlib.import_module(self.factory.partition(":")[0]).__file__).parent

    @property
    def stream_names(self) -> tuple[str, ...]:
        return tuple(c.stream for c in self.streams)

    def stream(self, name: str) -> StreamContract:
        for contract in self.streams:
            if contract.stream == name:
                return contract
        raise UnknownNameError(f"source {self.name!r} has no stream {name!r}; it has {', '.join(self.stream_names)}")

    def build_streams(self, conn: ConnectionInfo) -> list[Stream]:
        """The source's streams, configured from its connection (imports the reading code)."""
        module, _, function = self.factory.partition(":")
        factory: Callable[[ConnectionInfo], list[Stream]] = getattr(importlib.import_module(module), function)
        return factory(conn)


class Registry:
    """The registered sources, by name, in a stable (alphabetical) order."""

    def __init__(self, sources: Iterable[Source]):
        self.sources: dict[str, Source] = {}
        for source in sorted(sources, key=lambda s: s.name):
            if source.name in self.sources:
                raise ValueError(f"two sources are named {source.name!r}")
            self.sources[source.name] = source

    @classmethod
    def discover(cls, package: str = SOURCES_PACKAGE) -> Registry:
        """Every sub-package of `package` that declares `SOURCE`."""
        return cls(_declared(package, "SOURCE", Source))

    def with_source(self, source: Source) -> Registry:
        """This registry plus one more source (how a test registers a toy source)."""
        return Registry([*self.sources.values(), source])

    def source(self, name: str) -> Source:
        try:
            return self.sources[name]
        except KeyError:
            raise UnknownNameError(f"unknown source {name!r}; known sources: {', '.join(self.sources)}") from None

    def contract(self, source: str, stream: str) -> StreamContract:
        return self.source(source).stream(stream)

    @property
    def streams(self) -> list[StreamContract]:
        return [contract for source in self.sources.values() for contract in source.streams]

    @property
    def source_tags(self) -> frozenset[str]:
        return frozenset(source.tag for source in self.sources.values())


def _declared(package: str, attribute: str, kind: type) -> list:
    """The `attribute` of each sub-package of `package`, checked to be a `kind`."""
    root = importlib.import_module(package)
    found = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if not info.ispkg or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        spec = getattr(module, attribute, None)
        if not isinstance(spec, kind):
            raise TypeError(f"{package}.{info.name} must declare {attribute} = {kind.__name__}(...) in its __init__.py")
        if spec.name != info.name:
            raise ValueError(
                f"{package}.{info.name} declares {kind.__name__} {spec.name!r}; the folder and name must agree"
            )
        found.append(spec)
    return found


@cache
def registry() -> Registry:
    """The sources found under `connectors/sources/`."""
    return Registry.discover()
