"""Every destination kind, running on loopback, with what it holds read back as plain rows.

Each `Target` pairs an activation with its stand-in server (or the machine's PostgreSQL) and knows two
things: what the destination holds now (`held`) and what it must hold for a world (`expected`), both
keyed by customer and compared row by row by the convergence tests.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg2
from tessera_simulator.destinations.ad_audience_api import AudienceStore, ad_audience_app
from tessera_simulator.destinations.esp_list_api import EspListStore, esp_list_app
from tessera_simulator.destinations.smtp_server import serve_smtp
from tessera_simulator.destinations.webhook_receiver import WEBHOOK_PATH, WebhookStore, webhook_receiver_app
from tessera_simulator.servers.runner import BackgroundServer

from connectors.connection import ConnectionInfo
from connectors.destinations.hashing import hashed
from tessera.activation.activations import Activation, parse_activation
from tests.activation.published import World

SEGMENT = "lapsed_vips"
FAST = {"initial_wait_seconds": 0.01, "max_wait_seconds": 0.05, "max_attempts": 4}
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
AUDIENCE = "120000000001"
FIELDS = {"first_name": "first_name", "ltv": "lifetime_value"}


@dataclass
class Target:
    activation: Activation
    conn: ConnectionInfo
    held: Callable[[], dict]
    expected: Callable[[World], dict]
    fault_url: str | None = None  #: where `/_faults` rules go, for HTTP destinations
    fault_path: str = "/"
    store: Any = None  #: the stand-in's store, for tests that change what it accepts

    @property
    def name(self) -> str:
        return self.activation.destination

    def fault(self, **rule) -> None:
        httpx.post(f"{self.fault_url}/_faults", json={"path_prefix": self.fault_path, **rule}).raise_for_status()


def _fields(customer, fields: dict[str, str]) -> dict:
    return {field: getattr(customer, column) for field, column in fields.items()}


@contextmanager
def running_targets(folder: Path) -> Iterator[dict[str, Target]]:
    """Every kind, running: snapshot files go under `folder`."""
    with ExitStack() as stack:
        targets = [
            stack.enter_context(_ad_audience()),
            stack.enter_context(_webhook()),
            stack.enter_context(_postgres()),
            stack.enter_context(_esp_list()),
            stack.enter_context(_files(folder)),
            stack.enter_context(_email()),
        ]
        yield {t.name: t for t in targets}


def _serve(stack: ExitStack, app, name: str) -> str:
    server = BackgroundServer(app, name)
    server.start()
    stack.callback(server.stop)
    return server.url


@contextmanager
def _ad_audience() -> Iterator[Target]:
    store = AudienceStore()
    store.create(AUDIENCE)
    with ExitStack() as stack:
        url = _serve(stack, ad_audience_app(store, "token"), "ad-audience")
        activation = parse_activation(
            SEGMENT, 1, {"destination": "meta_ads", "mode": "add_remove", "identifiers": ["email", "phone"]}
        )

        def row(customer) -> frozenset:
            pairs = [("EMAIL", hashed("meta", "email", customer.email))] if customer.email else []
            return frozenset(pairs + ([("PHONE", hashed("meta", "phone", customer.phone))] if customer.phone else []))

        yield Target(
            activation,
            ConnectionInfo(
                "tessera_dest_meta_ads",
                "http",
                host=f"{url}/v21.0",
                password="token",
                extra={"kind": "ad_audience", "audience_id": AUDIENCE, **FAST},
            ),  # fmt: skip
            held=lambda: {r: 1 for r in store.members(AUDIENCE)},
            expected=lambda world: {row(c): 1 for c in world.members(SEGMENT).values()},
            fault_url=url,
            fault_path=f"/v21.0/{AUDIENCE}/users",
            store=store,
        )


@contextmanager
def _webhook() -> Iterator[Target]:
    store, secret = WebhookStore(), "whsec_" + __import__("base64").b64encode(secrets.token_bytes(24)).decode()
    with ExitStack() as stack:
        url = _serve(stack, webhook_receiver_app(store, secret), "webhook")
        activation = parse_activation(
            SEGMENT, 2, {"destination": "hooks", "mode": "mirror", "identifiers": ["email"], "fields": FIELDS}
        )

        def expected(world: World) -> dict:
            return {
                key: {"identifiers": {"email": c.email} if c.email else {}, "fields": _fields(c, FIELDS)}
                for key, c in world.members(SEGMENT).items()
            }

        yield Target(
            activation,
            ConnectionInfo(
                "tessera_dest_hooks",
                "http",
                host=f"{url}{WEBHOOK_PATH}",
                password=secret,
                extra={"kind": "webhook", **FAST},
            ),  # fmt: skip
            held=lambda: store.members(SEGMENT),
            expected=expected,
            fault_url=url,
            fault_path=WEBHOOK_PATH,
            store=store,
        )


@contextmanager
def _esp_list() -> Iterator[Target]:
    store, list_id, segment_id = EspListStore(), "a1b2c3", 4242
    store.add_list(list_id)
    store.add_segment(list_id, segment_id)
    with ExitStack() as stack:
        url = _serve(stack, esp_list_app(store, "key-us21"), "esp-list")
        fields = {"FNAME": "first_name"}
        activation = parse_activation(SEGMENT, 4, {"destination": "newsletter", "mode": "mirror", "fields": fields})

        def held() -> dict:
            members = store.members(list_id)
            return {email: members[email]["merge_fields"] for email in store.segment_members(list_id, segment_id)}

        yield Target(
            activation,
            ConnectionInfo(
                "tessera_dest_newsletter",
                "http",
                host=url,
                password="key-us21",
                extra={"kind": "esp_list", "list_id": list_id, "segment_id": segment_id, **FAST},
            ),  # fmt: skip
            held=held,
            expected=lambda world: {c.email: _fields(c, fields) for c in world.members(SEGMENT).values() if c.email},
            fault_url=url,
            fault_path=f"/3.0/lists/{list_id}",
            store=store,
        )


SNAPSHOT_FIELDS = {"first_name": "first_name", "ltv": "lifetime_value"}


def _snapshot_rows(data: bytes) -> dict:
    """An export's rows by customer: identifiers and fields as the CSV has them (text)."""
    import io

    import pyarrow.csv as csv

    table = csv.read_csv(io.BytesIO(data), convert_options=csv.ConvertOptions(strings_can_be_null=True,
                         column_types={name: "string" for name in ("customer_id", "email", "first_name", "ltv")}))  # fmt: skip
    return {
        row["customer_id"]: {"email": row.get("email"), **{f: row.get(f) for f in SNAPSHOT_FIELDS}}
        for row in table.to_pylist()
    }


def _snapshot_expected(world: World) -> dict:
    return {
        key: {"email": c.email, "first_name": c.first_name, "ltv": _csv_number(c.lifetime_value)}
        for key, c in world.members(SEGMENT).items()
    }


def _csv_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@contextmanager
def _files(folder: Path) -> Iterator[Target]:
    activation = parse_activation(
        SEGMENT, 5, {"destination": "marketing_drop", "mode": "snapshot", "fields": SNAPSHOT_FIELDS}
    )

    def held() -> dict:
        latest = folder / SEGMENT / "latest.json"
        if not latest.exists():
            return {}
        manifest = json.loads(latest.read_text())
        return _snapshot_rows((folder / manifest["file"]).read_bytes())

    yield Target(
        activation,
        ConnectionInfo("tessera_dest_marketing_drop", "fs", extra={"kind": "files", "path": str(folder)}),
        held=held,
        expected=_snapshot_expected,
    )


@contextmanager
def _email() -> Iterator[Target]:
    with serve_smtp() as server:
        activation = parse_activation(
            SEGMENT, 6, {"destination": "marketing_team", "mode": "snapshot", "fields": SNAPSHOT_FIELDS}
        )

        def held() -> dict:
            messages = server.messages()
            if not messages:
                return {}
            (attachment,) = list(messages[-1].iter_attachments())
            return _snapshot_rows(attachment.get_content() if isinstance(attachment.get_content(), bytes)
                                  else attachment.get_content().encode())  # fmt: skip

        yield Target(
            activation,
            ConnectionInfo(
                "tessera_dest_marketing_team",
                "smtp",
                host=server.host,
                port=server.port,
                extra={"kind": "email", "to": ["marketing@shop.test"], **FAST},
            ),  # fmt: skip
            held=held,
            expected=_snapshot_expected,
            store=server,
        )


@contextmanager
def _postgres() -> Iterator[Target]:
    schema = f"sync_{uuid.uuid4().hex[:12]}"
    _execute(f"create schema {schema}")
    try:
        activation = parse_activation(
            SEGMENT,
            3,
            {"destination": "warehouse_copy", "mode": "mirror", "identifiers": ["email", "phone"], "fields": FIELDS},
        )

        def held() -> dict:
            try:
                rows = _query(f"select customer_id, identifiers, first_name, ltv from {schema}.{SEGMENT}")
            except psycopg2.errors.UndefinedTable:
                return {}
            return {
                key: {"identifiers": ids, "fields": {"first_name": name, "ltv": ltv}} for key, ids, name, ltv in rows
            }

        def expected(world: World) -> dict:
            return {
                key: {
                    "identifiers": {k: v for k, v in (("email", c.email), ("phone", c.phone)) if v},
                    "fields": _fields(c, FIELDS),
                }
                for key, c in world.members(SEGMENT).items()
            }

        yield Target(
            activation,
            ConnectionInfo(
                "tessera_dest_warehouse_copy",
                "postgres",
                host=POSTGRES["host"],
                port=POSTGRES["port"],
                login=POSTGRES["user"],
                schema=POSTGRES["dbname"],
                extra={"kind": "postgres", "table": f"{schema}.{SEGMENT}", **FAST},
            ),  # fmt: skip
            held=held,
            expected=expected,
        )
    finally:
        _execute(f"drop schema {schema} cascade")


def _execute(sql: str) -> None:
    with closing(psycopg2.connect(**POSTGRES)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql)


def _query(sql: str) -> list[tuple]:
    with closing(psycopg2.connect(**POSTGRES)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def as_json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)
