"""From a request to everything that names the person: their customer ids (retired ones too), every record
of theirs in every source, and every identifier value those records carry that no one else's record does.

The identity graph in the warehouse says who the person is (`int_identity_resolution`, the edges with their
decisions; `int_customer_records`; `int_customer_id_history` and `marts.customer_merges` for retired ids).
The spellings the sources wrote (`0157 60774570`, `RSchulz@Web.DE `) come from the lake afterwards
(`tessera.erasure.lake.find_spellings`): staging keeps only normalised values.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.durable import write_atomically
from tessera.duckdb_files import connect_or_explain
from tessera.erasure.requests import ErasureRequest
from tessera.home import TesseraHome
from tessera.publication import published_path

log = logging.getLogger(__name__)

#: Identifier types of the graph that name a person; `record` edges name another record (a match pair).
PERSON_IDENTIFIER_TYPES = (
    "email",
    "phone",
    "crm_contact_id",
    "esp_subscriber_id",
    "loyalty_id",
    "anonymous_id",
    "payment_token",
)
#: Shorter values are never searched for as text: they would match unrelated bytes.
MIN_NEEDLE_LENGTH = 6


@dataclass
class ErasurePlan:
    """Everything that names one person. Plain values: it lives in memory, and on disk only while a request
    is being served (`tessera.erasure.service`, the pending plan), never in logs."""

    request: ErasureRequest
    customer_ids: set[str] = field(default_factory=set)
    record_keys: set[str] = field(default_factory=set)
    record_ids: set[str] = field(default_factory=set)
    customer_keys: set[str] = field(default_factory=set)
    #: (identifier type, normalised value) pairs carried by the person's records only.
    identifiers: set[tuple[str, str]] = field(default_factory=set)
    #: Values as the sources wrote them, found in the person's lake rows.
    spellings: set[str] = field(default_factory=set)
    #: Connector fingerprints of the person's landed records, by stream name (`crm.contacts`).
    fingerprints: dict[str, set[str]] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.customer_ids or self.record_keys or self.spellings)

    def values(self) -> set[str]:
        """Every string that names the person, as written somewhere."""
        values = {self.request.value} | self.customer_ids | self.record_keys | self.record_ids | self.customer_keys
        values |= {value for _, value in self.identifiers} | self.spellings
        if self.request.kind == "phone" or any(kind == "phone" for kind, _ in self.identifiers):
            # E.164 without its `+`, as some systems store and the ad platforms hash it
            values |= {
                v[1:] for kind, v in self.identifiers | {(self.request.kind, self.request.value)} if kind == "phone"
            }
        return {value for value in values if value and value.strip()}

    def exact_tokens(self) -> set[str]:
        """What a column's whole value, trimmed and lower-cased, is compared with."""
        return {value.strip().lower() for value in self.values()}

    def text_needles(self) -> list[str]:
        """What free text (logs, reports, JSON) is searched for, longest first so that a key is masked whole
        before the id inside it."""
        needles = {value.strip() for value in self.values() if len(value.strip()) >= MIN_NEEDLE_LENGTH}
        return sorted(needles, key=lambda value: (-len(value), value))

    def suppression_identifiers(self) -> list[tuple[str, str]]:
        """(type, plain value) pairs for the suppression list: what a later extraction recognises them by."""
        pairs = {(self.request.identifier_type, self.request.value)} if self.request.kind != "customer_id" else set()
        pairs |= {(kind, value) for kind, value in self.identifiers if kind != "payment_token"}
        for kind, value in list(pairs):
            if kind == "phone":
                pairs.add(("phone_digits", value))
        for spelling in self.spellings:
            if "@" in spelling:
                pairs.add(("email", spelling))
            elif sum(ch.isdigit() for ch in spelling) >= 7 and not any(ch.isalpha() for ch in spelling):
                pairs.add(("phone_digits", spelling))
        return sorted(pairs)

    def activation_identifiers(self) -> list[tuple[str, str]]:
        """Normalised (`email`|`phone`, value) pairs, as the destinations received them."""
        pairs = {(kind, value) for kind, value in self.identifiers if kind in ("email", "phone")}
        if self.request.kind in ("email", "phone"):
            pairs.add((self.request.kind, self.request.value))
        return sorted(pairs)

    def to_document(self) -> dict[str, Any]:
        return {
            "request": {"kind": self.request.kind, "value": self.request.value},
            "customer_ids": sorted(self.customer_ids),
            "record_keys": sorted(self.record_keys),
            "record_ids": sorted(self.record_ids),
            "customer_keys": sorted(self.customer_keys),
            "identifiers": sorted([list(pair) for pair in self.identifiers]),
            "spellings": sorted(self.spellings),
            "fingerprints": {stream: sorted(fps) for stream, fps in sorted(self.fingerprints.items())},
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ErasurePlan:
        request = ErasureRequest(document["request"]["kind"], document["request"]["value"])
        return cls(
            request=request,
            customer_ids=set(document["customer_ids"]),
            record_keys=set(document["record_keys"]),
            record_ids=set(document["record_ids"]),
            customer_keys=set(document["customer_keys"]),
            identifiers={(kind, value) for kind, value in document["identifiers"]},
            spellings=set(document["spellings"]),
            fingerprints={stream: set(fps) for stream, fps in document["fingerprints"].items()},
        )

    def merge(self, other: ErasurePlan) -> None:
        """Add what another resolution of the same request found (a rerun after an interruption)."""
        self.customer_ids |= other.customer_ids
        self.record_keys |= other.record_keys
        self.record_ids |= other.record_ids
        self.customer_keys |= other.customer_keys
        self.identifiers |= other.identifiers
        self.spellings |= other.spellings
        for stream, fps in other.fingerprints.items():
            self.fingerprints.setdefault(stream, set()).update(fps)


def resolve_in_warehouse(home: TesseraHome, request: ErasureRequest) -> ErasurePlan:
    """Who the request names, through the identity graph of the published and the working warehouse (a
    build may have run since the last publication, or failed its checks and left the working file newer)."""
    plan = ErasurePlan(request)
    for path in (published_path(home), home.warehouse):
        if path.exists():
            plan.merge(_resolve_in(path, request))
    log.info(
        "resolved erasure request %s: %d customer ids, %d records, %d identifiers",
        request.describe(),
        len(plan.customer_ids),
        len(plan.record_keys),
        len(plan.identifiers),
    )
    return plan


def _resolve_in(path: Path, request: ErasureRequest) -> ErasurePlan:

    plan = ErasurePlan(request)
    con = connect_or_explain(
        path,
        f"cannot read {path} to resolve the erasure request: it is open elsewhere (a build running?). "
        "Serve the request once the build has finished",
        read_only=True,
    )
    try:
        tables = {
            f"{s}.{t}"
            for s, t in con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        }
        required = {"intermediate.int_identity_resolution", "intermediate.int_customer_records"}
        if not required <= tables:
            log.info("%s has no identity graph yet: the request is resolved in the lake only", path)
            return plan
        seeds = _seed_records(con, request, tables)
        customers = set(seeds["customers"])
        customers |= _customers_of(con, seeds["records"])
        customers |= _retired_ids(con, customers, tables)
        records = set(seeds["records"]) | _records_of(con, customers, tables)
        if not records and not customers:
            return plan
        con.execute(
            "create temp table _erasure_records as select unnest(?::varchar[]) as record_key", [sorted(records)]
        )
        plan.customer_ids = customers
        plan.record_keys = records
        plan.record_ids = {
            r
            for (r,) in con.execute(
                "select distinct record_id from intermediate.int_customer_records"
                " where record_key in (select record_key from _erasure_records)"
            ).fetchall()
            if r
        } | {key.split(":", 2)[2] for key in records if key.count(":") >= 2}
        plan.customer_keys = {
            k
            for (k,) in con.execute(
                "select distinct customer_key from intermediate.int_customer_records"
                " where record_key in (select record_key from _erasure_records)"
            ).fetchall()
            if k
        }
        types = ", ".join(f"'{t}'" for t in PERSON_IDENTIFIER_TYPES)
        plan.identifiers = set(
            con.execute(
                f"""
                with theirs as (
                    select distinct identifier_type, identifier_value from intermediate.int_identity_resolution
                    where record_key in (select record_key from _erasure_records) and identifier_type in ({types})
                ), others as (
                    select distinct identifier_type, identifier_value from intermediate.int_identity_resolution
                    where record_key not in (select record_key from _erasure_records)
                )
                select identifier_type, identifier_value from theirs
                anti join others using (identifier_type, identifier_value)
                """
            ).fetchall()
        )
    finally:
        con.close()
    return plan


def _seed_records(con, request: ErasureRequest, tables: set[str]) -> dict[str, list[str]]:
    """The records the request's identifier names directly (stitched edges first: a shared value names no one),
    and, for a customer id, that customer."""
    if request.kind == "customer_id":
        return {"customers": [request.value], "records": []}
    values = {request.value}
    if request.kind == "email":
        values |= _canonical_emails(con, request.value, tables)
    rows = con.execute(
        "select record_key, decision from intermediate.int_identity_resolution"
        " where identifier_type = ? and identifier_value in (select unnest(?::varchar[]))",
        [request.identifier_type, sorted(values)],
    ).fetchall()
    stitched = sorted({key for key, decision in rows if decision == "stitched"})
    return {"customers": [], "records": stitched or sorted({key for key, _ in rows})}


def _canonical_emails(con, email: str, tables: set[str]) -> set[str]:
    """The canonical forms staging gave the address (Gmail dots and plus tags folded): the graph's values."""
    found: set[str] = set()
    for table in sorted(t for t in tables if t.startswith("staging.stg_") or t == "intermediate.int_profile_records"):
        schema, name = table.split(".")
        columns = {
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
                [schema, name],
            ).fetchall()
        }
        for column in sorted(columns):
            if f"{column}_canonical" in columns:
                found |= {
                    v
                    for (v,) in con.execute(
                        f'select distinct "{column}_canonical" from {schema}."{name}" where lower(trim("{column}")) = ?',
                        [email],
                    ).fetchall()
                    if v
                }
    return found


def _customers_of(con, records: list[str]) -> set[str]:
    if not records:
        return set()
    return {
        c
        for (c,) in con.execute(
            "select distinct customer_id from intermediate.int_customer_records"
            " where record_key in (select unnest(?::varchar[]))",
            [records],
        ).fetchall()
        if c
    }


def _retired_ids(con, customers: set[str], tables: set[str]) -> set[str]:
    """Every id the person had: ids their records held before (the history), and merges in either direction."""
    found = set(customers)
    for _ in range(20):  # merges chain; a handful of steps at most
        before = len(found)
        ids = sorted(found)
        if "intermediate.int_customer_id_history" in tables:
            found |= {
                c
                for (c,) in con.execute(
                    """select distinct customer_id from intermediate.int_customer_id_history where record_key in (
                           select record_key from intermediate.int_customer_id_history
                           where customer_id in (select unnest(?::varchar[]))
                           union select record_key from intermediate.int_customer_records
                           where customer_id in (select unnest(?::varchar[])))""",
                    [ids, ids],
                ).fetchall()
                if c
            }
        if "marts.customer_merges" in tables:
            for old, new in con.execute(
                "select old_customer_id, new_customer_id from marts.customer_merges"
                " where old_customer_id in (select unnest(?::varchar[])) or new_customer_id in (select unnest(?::varchar[]))",
                [ids, ids],
            ).fetchall():
                found |= {v for v in (old, new) if v}
        if len(found) == before:
            break
    return found


def _records_of(con, customers: set[str], tables: set[str]) -> set[str]:
    if not customers:
        return set()
    ids = sorted(customers)
    records = {
        r
        for (r,) in con.execute(
            "select record_key from intermediate.int_customer_records where customer_id in (select unnest(?::varchar[]))",
            [ids],
        ).fetchall()
    }
    if "intermediate.int_customer_id_history" in tables:
        records |= {
            r
            for (r,) in con.execute(
                "select record_key from intermediate.int_customer_id_history"
                " where customer_id in (select unnest(?::varchar[]))",
                [ids],
            ).fetchall()
        }
    return records


def plan_path(home: TesseraHome, request: ErasureRequest) -> Path:
    """The plan of a request being served: written before anything changes, removed when all is done, so that
    a rerun after an interruption still knows the spellings the lake no longer holds."""
    return home.root / "erasure" / "pending" / f"{request.sha256}.json"


def save_plan(home: TesseraHome, plan: ErasurePlan) -> Path:
    path = plan_path(home, plan.request)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(plan.to_document()))
    return path


def load_plan(home: TesseraHome, request: ErasureRequest) -> ErasurePlan | None:
    path = plan_path(home, request)
    return ErasurePlan.from_document(json.loads(path.read_text())) if path.exists() else None
