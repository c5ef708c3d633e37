"""`tessera explain`: why these records are one customer, and what merge protection kept out.

Reads the marts and the identity resolution tables of the published warehouse. Names, emails and phones
are masked unless asked otherwise (`--show-pii`). A retired customer id (a customer merged into another,
`marts.customer_merges`) is followed to the customer it became, so an id kept in a destination or a ticket
still explains something. Everything shown is text from the data, printed as text, never as Rich markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from connectors.masking import mask_identifier
from tessera.home import TesseraHome
from tessera.warehouse import connect


@dataclass
class Explanation:
    customer_id: str
    profile: dict
    records: list[tuple]
    identifiers: list[tuple]
    matches: list[tuple]
    kept_out: list[tuple]
    lineage: list[tuple]
    #: How a retired id led here, oldest first: (retired id, the id it was merged into, when, why).
    merged: list[tuple] = field(default_factory=list)

    def print(self, console: Console) -> None:
        p = self.profile
        for old, new, merged_at, reason in self.merged:
            when = f" on {merged_at:%Y-%m-%d}" if merged_at else ""
            why = f" ({reason})" if reason else ""
            console.print(Text(f"{old} was merged into {new}{when}{why}"), soft_wrap=True)
        name = " ".join(part for part in (p.get("first_name"), p.get("last_name")) if part)
        console.print(
            f"[bold]{escape(self.customer_id)}[/]: {escape(name)} — "
            f"{p['record_count']} records from {escape(str(p['sources']))}"
        )
        _table(console, "Records", ("source", "stream", "record id"), self.records)
        _table(
            console, "Identifiers that joined them", ("identifier", "value", "records carrying it"), self.identifiers
        )
        _table(
            console, "Probabilistic matches that joined them", ("record", "matched record", "probability"), self.matches
        )
        _table(
            console,
            "Kept out by merge protection",
            ("record", "identifier", "value", "decision", "reason"),
            self.kept_out,
        )
        _table(console, "Golden values and where they came from", ("attribute", "source record", "rule"), self.lineage)


def _table(console: Console, title: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:  # values are data: `[bold]` in a name or a reason is shown as typed
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    if not rows:
        table.add_row(*(["—"] + [""] * (len(columns) - 1)))
    console.print(table)


def mask_name(value: str | None) -> str | None:
    """A name shown as its first letter: enough to tell two customers apart on screen, not to copy."""
    return f"{value[:1]}***" if value else value


class UnknownCustomer(LookupError):
    """The id is neither a customer of the published marts nor one merged into another."""


#: How many merges a retired id is followed through (a chain longer than this is a loop in the data).
_MAX_MERGE_HOPS = 50


def explain_customer(home: TesseraHome, customer_id: str, show_pii: bool = False) -> Explanation:
    def shown(identifier_type: str, value: str) -> str:
        return value if show_pii else mask_identifier(identifier_type, value)

    with connect(home) as con:
        live = con.execute("select count(*) from marts.golden_customers where customer_id = ?", [customer_id])
        merged = [] if live.fetchone()[0] else retired_into(con, customer_id)
        requested, customer_id = customer_id, merged[-1][1] if merged else customer_id
        found = con.execute("select * from marts.golden_customers where customer_id = ?", [customer_id])
        row = found.fetchone()
        if row is None:
            raise UnknownCustomer(
                f"no customer {requested!r}: it is neither in marts.golden_customers nor a retired id in "
                f"marts.customer_merges"
                + (f" (it was merged into {customer_id!r}, which is gone too)" if merged else "")
            )
        profile = dict(zip([d[0] for d in found.description], row, strict=True))
        if not show_pii:
            profile |= {key: mask_name(profile.get(key)) for key in ("first_name", "last_name")}
        (customer_key,) = con.execute(
            "select distinct customer_key from intermediate.int_customer_records where customer_id = ?", [customer_id]
        ).fetchone()
        records = con.execute(
            "select source, stream, record_id from marts.customer_xref where customer_id = ? order by 1, 2, 3",
            [customer_id],
        ).fetchall()
        identifiers = con.execute(
            """
            select identifier_type, identifier_value, count(distinct record_key) as n
            from intermediate.int_identity_resolution
            where customer_key = ? and decision = 'stitched' and identifier_type <> 'record'
            group by 1, 2 having count(distinct record_key) > 1
            order by 1, 2
            """,
            [customer_key],
        ).fetchall()
        matches = con.execute(
            """
            select record_key, identifier_value, round(match_probability, 4)
            from intermediate.int_identity_resolution
            where customer_key = ? and decision = 'stitched' and identifier_type = 'record'
            order by match_probability desc, record_key
            """,
            [customer_key],
        ).fetchall()
        kept_out = con.execute(
            """
            select record_key, identifier_type, identifier_value, decision, reason
            from intermediate.int_identity_decisions
            where customer_key = ?
            order by decision, identifier_type, record_key
            """,
            [customer_key],
        ).fetchall()
        lineage = con.execute(
            """
            select lineage.attribute, profiles.record_key, lineage.rule
            from marts.golden_customer_lineage as lineage
            left join intermediate.int_profile_records as profiles using (source, stream, record_id)
            where lineage.customer_id = ? order by lineage.attribute
            """,
            [customer_id],
        ).fetchall()
    return Explanation(
        customer_id=customer_id,
        profile=profile,
        records=records,
        identifiers=[(t, shown(t, v), n) for t, v, n in identifiers],
        matches=matches,
        kept_out=[(r, t, shown(t, v), d, why) for r, t, v, d, why in kept_out],
        lineage=lineage,
        merged=merged,
    )


def retired_into(con, customer_id: str) -> list[tuple]:
    """The merges that retired `customer_id`, followed to the live customer: [(old, new, merged_at, reason)],
    or [] when the id is not a retired one (or the warehouse predates `marts.customer_merges`)."""
    has_merges = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = 'customer_merges'"
    ).fetchone()[0]
    chain: list[tuple] = []
    current = customer_id
    while has_merges and len(chain) < _MAX_MERGE_HOPS:
        step = con.execute(
            """
            select old_customer_id, new_customer_id, merged_at, reason from marts.customer_merges
            where old_customer_id = ? order by merged_at desc, new_customer_id limit 1
            """,
            [current],
        ).fetchone()
        if step is None or any(step[1] == old for old, *_ in chain) or step[1] == customer_id:
            break
        chain.append(step)
        current = step[1]
    return chain
