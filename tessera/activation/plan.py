"""Who should be in a destination now, and what to send to get it there.

Everything runs in the pair's state database (`state.py`) with the published warehouse attached read-only
(`wh`): the published marts are the last build that passed its checks, so no segment is ever synced from
data that failed them. `audience` is the segment joined to `marts.golden_customers` for identifiers and
consent; `plan` diffs it against the confirmed `members` by key and row hash, so the work follows what
changed and nothing is held in Python beyond one batch at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from connectors.destinations.base import Mode
from tessera.activation.activations import Activation

if TYPE_CHECKING:
    import duckdb

WAREHOUSE = "wh"
#: A deliverable address: something@domain.tld with no spaces (golden e-mails are trimmed, lower-case).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"  #: E.164
GOLDEN = f"{WAREHOUSE}.marts.golden_customers"
SUPPRESSIONS = f"{WAREHOUSE}.marts.customer_suppressions"


@dataclass(frozen=True)
class Plan:
    """How many rows of each kind a run will send; the rows themselves are in the `plan_*` tables."""

    members: int  #: valid members of the audience
    add: int
    update: int
    remove: int
    invalid: int
    excluded: int  #: left out for want of consent, or suppressed


def attach_warehouse(con: duckdb.DuckDBPyConnection, path: str) -> None:
    con.execute(f"attach ? as {WAREHOUSE} (read_only)", [str(path)])  # a path may hold quotes


def segment_columns(con: duckdb.DuckDBPyConnection, activation: Activation) -> set[str]:
    schema, table = activation.segment_relation.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns where table_catalog = ? and table_schema = ? and table_name = ?",
        [WAREHOUSE, schema, table],
    ).fetchall()
    if not rows:
        raise LookupError(
            f"segment {activation.segment}: {activation.segment_relation} is not in the published warehouse; "
            "build it (`tessera transform`) before syncing"
        )
    return {name for (name,) in rows}


def build_audience(con: duckdb.DuckDBPyConnection, activation: Activation) -> None:
    """`audience`: one row per segment row with its payload (identifiers and fields as JSON), the payload's
    hash, and why it cannot be sent (`invalid`) or was left out (`excluded`)."""
    columns = segment_columns(con, activation)
    if "customer_id" not in columns:
        raise LookupError(f"segment {activation.segment}: {activation.segment_relation} has no customer_id column")
    golden = {name for (name,) in con.execute(f"select column_name from (describe {GOLDEN})").fetchall()}
    values = []
    for field, column in activation.fields.items():
        if column in columns:
            source = f"seg.{_quote(column)}"
        elif column in golden:
            source = f"golden.{_quote(column)}"
        else:
            raise LookupError(
                f"segment {activation.segment}, activation of {activation.destination}: field {field!r} maps column "
                f"{column!r}, which neither {activation.segment_relation} nor marts.golden_customers has"
            )
        values.append(f"{_string(field)}: {_json_value(con, source, activation, column)}")
    identifiers = ", ".join(f"{_string(i)}: golden.{i}" for i in activation.identifiers)
    fields = ", ".join(values)
    identifier_checks = "".join(
        f"when golden.{name} is not null and not regexp_full_match(golden.{name}, '{pattern}') "
        f"then 'malformed {label}: ' || golden.{name} "
        for name, label, pattern in (("email", "e-mail", EMAIL_PATTERN), ("phone", "phone number", PHONE_PATTERN))
        if name in activation.identifiers
    )
    consent = (
        f"""case
            when golden.marketing_consent is not true then 'no marketing consent'
            when seg.customer_id in (select customer_id from {SUPPRESSIONS}) then 'suppressed'
        end"""
        if activation.marketing
        else "null"
    )
    con.execute(
        f"""
        create or replace temp table audience as
        with rows as (
            select
                cast(seg.customer_id as varchar) as key,
                to_json({{'identifiers': {{{identifiers}}}, 'fields': {{{fields}}}}}) as payload,
                count(*) over (partition by seg.customer_id) as copies,
                golden.customer_id is not null as known,
                {consent} as excluded,
                case
                    when seg.customer_id is null then 'null customer_id'
                    when golden.customer_id is null then 'customer_id not in marts.golden_customers'
                    {identifier_checks}
                end as problem
            from {WAREHOUSE}.{activation.segment_relation} as seg
            left join {GOLDEN} as golden on golden.customer_id = seg.customer_id
        )
        select
            key,
            payload::varchar as payload,
            md5(payload::varchar) as row_hash,
            case when copies > 1 and key is not null then 'duplicate customer_id (' || copies || ' rows)' else problem end
                as invalid,
            case when known then excluded end as excluded
        from rows
        """
    )


def build_plan(
    con: duckdb.DuckDBPyConnection, activation: Activation, *, full_resync: bool = False, shared: bool = False
) -> Plan:
    """`plan_add`, `plan_update` (with the confirmed payload as `previous`) and `plan_remove`, in key order
    and numbered (`seq`), so a run reads them a batch at a time by number and a re-run batches them alike.

    A full resync sends every valid member again as an add. Members are removed only in mirror and
    add/remove modes, and only when their key left the audience, lost consent or was suppressed: a member
    whose row became invalid stays as the destination last confirmed it, and is reported.

    With `shared` (a destination that knows members by their identifiers), a leaver whose identifiers a
    member who stays still has is not removed there (that would remove the stayer too): it only leaves
    the state (`plan_release`)."""
    con.execute(
        "create or replace temp table sendable as select * from audience where invalid is null and excluded is null"
    )
    changed = "m.row_hash <> s.row_hash"
    con.execute(
        f"""
        create or replace temp table plan_add as
        select row_number() over (order by s.key) as seq, s.key, s.payload, s.row_hash
        from sendable as s left join members as m on m.key = s.key
        where m.key is null {"or m.row_hash = s.row_hash" if full_resync else ""}
        order by s.key
        """
    )
    con.execute(
        f"""
        create or replace temp table plan_update as
        select row_number() over (order by s.key) as seq, s.key, s.payload, s.row_hash, m.payload as previous
        from sendable as s inner join members as m on m.key = s.key where {changed}
        order by s.key
        """
    )
    removes = activation.mode in (Mode.MIRROR, Mode.ADD_REMOVE)
    con.execute(
        f"""
        create or replace temp table plan_remove as
        select row_number() over (order by m.key) as seq, m.key, m.payload, m.row_hash from members as m
        where {"true" if removes else "false"}
          and m.key not in (select key from audience where key is not null and invalid is not null)
          and m.key not in (select key from sendable)
        order by m.key
        """
    )
    con.execute("create or replace temp table plan_release as select key from plan_remove where false")
    if shared:
        con.execute(
            """
            create or replace temp table plan_release as
            select r.key from plan_remove as r
            where json_extract(r.payload, '$.identifiers') in (
                select json_extract(s.payload, '$.identifiers') from sendable as s
            )
            """
        )
        con.execute("delete from plan_remove where key in (select key from plan_release)")
        con.execute(
            "create or replace temp table plan_remove as "
            "select row_number() over (order by key) as seq, key, payload, row_hash from plan_remove order by key"
        )
    counts = con.execute(
        """
        select
            (select count(*) from sendable),
            (select count(*) from plan_add),
            (select count(*) from plan_update),
            (select count(*) from plan_remove),
            (select count(*) from audience where invalid is not null),
            (select count(*) from audience where invalid is null and excluded is not null)
        """
    ).fetchone()
    return Plan(*counts)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _json_value(con: duckdb.DuckDBPyConnection, source: str, activation: Activation, column: str) -> str:
    """Timestamps as ISO 8601 in UTC, dates as ISO dates; everything else as DuckDB's JSON has it."""
    relation = GOLDEN if source.startswith("golden.") else f"{WAREHOUSE}.{activation.segment_relation}"
    kind = con.execute(f"select typeof({_quote(column)}) from {relation} limit 1").fetchone()
    kind = kind[0] if kind else ""
    if kind.startswith("TIMESTAMP"):
        return f"strftime(cast({source} as timestamptz), '%Y-%m-%dT%H:%M:%SZ')"
    if kind.startswith("DECIMAL"):
        return f"cast({source} as double)"
    return source
