"""Incremental stitching: re-stitch only the part of the identity graph that changed since the last run.

Stitching decisions are local to a *raw component* (records and identifier values joined by the edges
that survive screening, before per-customer limits): its customers, limit decisions and customer keys
depend on its own edges only, because the global rules (blocklist, shared values) are settled before
stitching, in the screening model. So an incremental run:

1. compares the screened edges with the previous run's edges by their structure (endpoints, entity,
   screening decision and the rule values that apply); an edge that appeared, vanished or changed
   marks both its endpoints;
2. widens the marked nodes to the previous raw components holding them (the previous customers,
   joined again through the edges that were refused for a limit), and takes every current edge of
   those records — a closed part of the new graph, since an unchanged edge joined nothing new;
3. stitches that part alone with `stitch()`, and marks records that have no edges any more as
   `removed` (the model's post-hook deletes them after the upsert);
4. re-emits, with their previous decisions, the records outside that part whose edges changed only
   in payload (when last seen, match probability, a shared value's count in its reason).

Upserting the result by `record_key` over the previous table gives exactly what `stitch()` gives on
the whole graph; `tests/transforms/identity/test_incremental_stitching.py` checks this on random graphs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.identity.stitching import OVER_LIMIT, RECORD, STITCHED, RuleBook, stitch

REMOVED = "removed"

#: What decides an edge's stitching: a change here re-stitches the edge's components.
STRUCTURE = (
    "record_key",
    "source",
    "stream",
    "identifier_type",
    "identifier_value",
    "entity_key",
    "decision",
    "rule_priority",
    "rule_max_per_customer",
)
#: What an edge carries along: a change here only rewrites the edge's record.
PAYLOAD = ("record_id", "observed_at", "match_probability", "match_detail", "reason")

#: A whole-graph stitching's working tables: record and value codes, each record's customer, refused edges.
#: They stay in the session until its end, for the relation `stitch_all` returns reads them.
_ALL = "__stitch_all"

#: An edge's identity: its record, identifier type and value (one edge each).
_EDGE_KEY = ("record_key", "identifier_type", "identifier_value")


def _target(alias: str) -> str:
    """The node an edge of `alias` points to: another record (a match edge), or an identifier value."""
    return (
        f"case when {alias}.identifier_type = '{RECORD}' then {alias}.identifier_value "
        f"else chr(31) || {alias}.identifier_type || chr(31) || {alias}.identifier_value end"
    )


def _components_of(previous: str, nodes: str) -> str:
    """The previous component of each node in the table `nodes` (column `node`) that was in one: a record's
    customer, or the customer of a value that some edge stitched."""
    return f"""
        select distinct prev.record_key as node, prev.customer_key as component
        from {previous} as prev
        where prev.record_key in (select node from {nodes})
        union
        select distinct {_target("prev")} as node, prev.customer_key as component
        from {previous} as prev
        where prev.decision = '{STITCHED}' and {_target("prev")} in (select node from {nodes})
    """


@dataclass(frozen=True)
class Restitched:
    """The rows to upsert by `record_key`, and how much of the graph they cover."""

    rows: pa.Table
    records_restitched: int
    records_refreshed: int
    records_removed: int
    records_total: int


def stitch_all(
    con: duckdb.DuckDBPyConnection, screened: str, rules: RuleBook, decided_at: datetime
) -> duckdb.DuckDBPyRelation:
    """The whole graph stitched, as a relation on `con` for the warehouse to store.

    Strings never pass through Python: the warehouse numbers the records (in key order) and the identifier
    values (in type and value order), and `stitch()` gets those numbers, each edge's type, decision and the
    columns its rules read. Numbering in the strings' own order keeps every decision what `stitch()` makes
    of the strings (the smallest record key names a customer; limit rebuilds take edges in value order).
    Back come each record's customer and the edges refused for a limit, which the warehouse joins onto the
    screened edges: a spillable join under DuckDB's memory limit instead of millions of strings in Python."""
    names = set(con.sql(f"select * from {screened}").columns)
    con.execute(
        f"""
        create or replace temp table {_ALL}_records as
        select name, cast(row_number() over (order by name) - 1 as integer) as code
        from (
            select record_key as name from {screened}
            union
            select identifier_value from {screened} where identifier_type = '{RECORD}'
        )
        """
    )
    con.execute(
        f"""
        create or replace temp table {_ALL}_values as
        select
            identifier_type,
            identifier_value,
            cast(row_number() over (order by identifier_type, identifier_value) - 1 as integer) as code
        from (select distinct identifier_type, identifier_value from {screened} where identifier_type <> '{RECORD}')
        """
    )
    optional = [f"edge.{c}" for c in ("stream", "match_probability") if c in names]
    coded = con.sql(
        f"""
        select
            record.code as record_key,
            edge.identifier_type,
            coalesce(value_node.code, matched.code) as identifier_value,
            {", ".join([*optional, "edge.decision"])}
        from {screened} as edge
        inner join {_ALL}_records as record on record.name = edge.record_key
        left join {_ALL}_values as value_node
            on value_node.identifier_type = edge.identifier_type and value_node.identifier_value = edge.identifier_value
        left join {_ALL}_records as matched
            on edge.identifier_type = '{RECORD}' and matched.name = edge.identifier_value
        """
    ).to_arrow_table()
    stitched = stitch(coded, rules, numbered=True)
    del coded
    con.register(f"{_ALL}_customer_codes", _customer_per_record(stitched))
    refused = stitched.filter(pc.equal(stitched["decision"], OVER_LIMIT))
    con.register(
        f"{_ALL}_refused_codes", refused.select(["record_key", "identifier_type", "identifier_value", "reason"])
    )
    del stitched, refused
    con.execute(
        f"""
        create or replace temp table {_ALL}_customers as
        select record.name as record_key, customer.name as customer_key
        from {_ALL}_customer_codes as codes
        inner join {_ALL}_records as record on record.code = codes.record_key
        inner join {_ALL}_records as customer on customer.code = codes.customer_key
        """
    )
    con.execute(
        f"""
        create or replace temp table {_ALL}_refused as
        select
            record.name as record_key,
            codes.identifier_type,
            coalesce(value_node.identifier_value, matched.name) as identifier_value,
            codes.reason
        from {_ALL}_refused_codes as codes
        inner join {_ALL}_records as record on record.code = codes.record_key
        left join {_ALL}_values as value_node
            on codes.identifier_type <> '{RECORD}' and value_node.code = codes.identifier_value
        left join {_ALL}_records as matched on codes.identifier_type = '{RECORD}' and matched.code = codes.identifier_value
        """
    )
    for view in ("customer_codes", "refused_codes"):
        con.unregister(f"{_ALL}_{view}")
    on = " and ".join(f"refused.{c} = screened.{c}" for c in _EDGE_KEY)
    return con.sql(
        f"""
        select
            screened.* replace (
                case when refused.record_key is null then screened.decision else '{OVER_LIMIT}' end as decision,
                case when refused.record_key is null then screened.reason else refused.reason end as reason
            ),
            customers.customer_key,
            cast('{decided_at.isoformat()}' as timestamp with time zone) as decided_at
        from {screened} as screened
        inner join {_ALL}_customers as customers on customers.record_key = screened.record_key
        left join {_ALL}_refused as refused on {on}
        """
    )


def _customer_per_record(stitched: pa.Table) -> pa.Table:
    """One row per record: its code and its customer's (every edge of a record names the same customer)."""
    records = stitched["record_key"].to_numpy()
    _, first = np.unique(records, return_index=True)
    return pa.table({"record_key": records[first], "customer_key": stitched["customer_key"].to_numpy()[first]})


def _decided(stitched: pa.Table, decided_at: datetime) -> pa.Table:
    """The stitched edges with the time of this decision."""
    return stitched.append_column("decided_at", pa.repeat(pa.scalar(decided_at), stitched.num_rows))


def restitch(
    con: duckdb.DuckDBPyConnection, screened: str, previous: str, rules: RuleBook, decided_at: datetime
) -> Restitched:
    """Rows that bring the stitching table `previous` up to date with the screened edges `screened`.

    Both are relations (or subqueries) on `con`; `previous` holds what `stitch()` returned last time,
    with `decided_at`. Re-stitched edges get `decided_at`; refreshed ones keep their previous time.
    """
    with _scratch(con) as t:
        # The previous edges as screening saw them: limits are stitching's own decision.
        as_screened = f"""
            select
                * replace (
                    case when decision = '{OVER_LIMIT}' then '{STITCHED}' else decision end as decision,
                    case when decision = '{OVER_LIMIT}' then null else reason end as reason
                )
            from {previous}
        """
        # One pass over both sides, joined by the edge's identity: which edges changed in structure (or
        # appeared, or vanished), and which only in payload.
        same = " and ".join(f"cur.{c} is not distinct from prev.{c}" for c in STRUCTURE if c not in _EDGE_KEY)
        same_payload = " and ".join(f"cur.{c} is not distinct from prev.{c}" for c in PAYLOAD)
        on = " and ".join(f"cur.{c} = prev.{c}" for c in _EDGE_KEY)
        con.execute(
            f"""
            create temp table {t}_diff as
            select
                coalesce(cur.record_key, prev.record_key) as record_key,
                coalesce(cur.identifier_type, prev.identifier_type) as identifier_type,
                coalesce(cur.identifier_value, prev.identifier_value) as identifier_value,
                cur.record_key is null or prev.record_key is null or not ({same}) as structure_changed
            from {screened} as cur
            full outer join ({as_screened}) as prev on {on}
            where cur.record_key is null or prev.record_key is null or not ({same} and {same_payload})
            """
        )
        con.execute(
            f"""
            create temp table {t}_changed as
            select record_key, {_target(t + "_diff")} as target_node from {t}_diff where structure_changed
            """
        )
        # Which previous component each changed node was in: a record's customer, a value's stitched customer.
        con.execute(
            f"""
            create temp table {t}_nodes as
            select record_key as node from {t}_changed union select target_node from {t}_changed
            """
        )
        con.execute(f"create temp table {t}_node_component as {_components_of(previous, f'{t}_nodes')}")
        # Units of the previous graph: a component, or a node that was in none (new, or only refused).
        con.execute(
            f"""
            create temp table {t}_units as
            select distinct coalesce(c.component, n.node) as unit
            from {t}_nodes as n
            left join {t}_node_component as c on c.node = n.node
            """
        )
        # Components joined through edges refused for a limit were one raw component: widen to all of it.
        con.execute(
            f"""
            create temp table {t}_refused as
            select customer_key, {_target("prev")} as target_node
            from {previous} as prev
            where prev.decision = '{OVER_LIMIT}'
            """
        )
        con.execute(f"create temp table {t}_refused_nodes as select distinct target_node as node from {t}_refused")
        con.execute(
            f"""
            create temp table {t}_refused_links as
            select distinct r.customer_key as a, coalesce(c.component, r.target_node) as b
            from {t}_refused as r
            left join ({_components_of(previous, f"{t}_refused_nodes")}) as c on c.node = r.target_node
            """
        )
        while True:
            added = con.execute(
                f"""
                insert into {t}_units
                select distinct other from (
                    select b as other from {t}_refused_links where a in (select unit from {t}_units)
                    union
                    select a from {t}_refused_links where b in (select unit from {t}_units)
                ) where other not in (select unit from {t}_units)
                """
            ).fetchall()[0][0]
            if not added:
                break
        con.execute(
            f"""
            create temp table {t}_affected as
            select record_key from {previous} where customer_key in (select unit from {t}_units)
            union
            select record_key from {t}_changed
            union
            select target_node from {t}_changed where target_node in (select record_key from {screened})
            """
        )

        part = con.sql(
            f"select * from {screened} as cur where cur.record_key in (select record_key from {t}_affected)"
        ).to_arrow_table()
        parts = []
        if part.num_rows:
            con.register(f"{t}_stitched", _decided(stitch(part, rules), decided_at))
            parts.append(f"select * from {t}_stitched")

        # Records outside that part whose edges changed only in payload keep their decisions.
        con.execute(
            f"""
            create temp table {t}_refreshed as
            select distinct record_key from {t}_diff
            where not structure_changed and record_key not in (select record_key from {t}_affected)
            """
        )
        parts.append(
            f"""
            select
                cur.* exclude (decision, reason),
                prev.decision,
                case when prev.decision = '{OVER_LIMIT}' then prev.reason else cur.reason end as reason,
                prev.customer_key,
                prev.decided_at
            from {screened} as cur
            inner join {previous} as prev on {on}
            where cur.record_key in (select record_key from {t}_refreshed)
            """
        )
        parts.append(
            f"""
            select distinct record_key, '{REMOVED}' as decision
            from {t}_affected
            where record_key not in (select record_key from {screened})
            """
        )
        typed = f"select * from {previous} where false"
        rows = con.sql(" union all by name ".join([typed, *parts])).to_arrow_table()
        removed = rows.filter(pc.equal(rows["decision"], REMOVED)).num_rows
        counts = con.execute(
            f"""
            select
                (select count(*) from {t}_affected where record_key in (select record_key from {screened})),
                (select count(*) from {t}_refreshed),
                (select count(distinct record_key) from {screened})
            """
        ).fetchall()[0]
        if part.num_rows:
            con.unregister(f"{t}_stitched")
    return Restitched(rows, counts[0], counts[1], removed, counts[2])


@contextmanager
def _scratch(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """A prefix for this call's temporary tables, dropped afterwards."""
    prefix = "__restitch"
    try:
        yield prefix
    finally:
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where temporary and starts_with(table_name, ?)", [prefix]
        ).fetchall():
            con.execute(f'drop table if exists temp."{name}"')
