"""`tessera explain`: why these records are one customer, and what merge protection kept out.

Reads the marts and the identity resolution tables of the embedded warehouse. Emails and phones
are masked unless asked otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

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

    def print(self, console: Console) -> None:
        p = self.profile
        console.print(
            f"[bold]{self.customer_id}[/]: {p.get('first_name') or ''} {p.get('last_name') or ''} — "
            f"{p['record_count']} records from {p['sources']}"
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
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    if not rows:
        table.add_row(*(["—"] + [""] * (len(columns) - 1)))
    console.print(table)


def explain_customer(home: TesseraHome, customer_id: str, show_pii: bool = False) -> Explanation:
    def shown(identifier_type: str, value: str) -> str:
        return value if show_pii else mask_identifier(identifier_type, value)

    with connect(home) as con:
        found = con.execute("select * from marts.golden_customers where customer_id = ?", [customer_id])
        row = found.fetchone()
        if row is None:
            raise KeyError(f"no customer {customer_id!r} in marts.golden_customers")
        profile = dict(zip([d[0] for d in found.description], row, strict=True))
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
    )
