"""A stand-in for a dbt build, in plain DuckDB writes to the working file: fast, and tearable on purpose.

Each generation `g` of `n` customers has golden customers `g<g>-c<i>` and two attributed records each,
so a customer_xref of one generation next to golden_customers of another has orphans. The statements run
one by one in autocommit, as dbt's models do, so a build killed between them leaves a torn working file.
"""

from __future__ import annotations

#: Rows of a customer_xref whose customer is missing from golden_customers (0 in a consistent warehouse).
ORPHANS_SQL = """
select count(*) from marts.customer_xref as x
where not exists (select 1 from marts.golden_customers as g where g.customer_id = x.customer_id)
"""


def expected_counts(customers: int) -> dict[str, int]:
    return {"customer_xref": 2 * customers, "golden_customers": customers}


def write_padding(con, rows: int) -> None:
    """The bulk of a warehouse (staging), so that writing and copying it take measurable time."""
    con.execute("create schema if not exists staging")
    con.execute(
        "create or replace table staging.padding as select i, hash(i) as h1, hash(i + 1) as h2 from range(?) as t(i)",
        [rows],
    )


def replace_xref(con, generation: int, customers: int) -> None:
    con.execute("create schema if not exists marts")
    con.execute(
        f"""
        create or replace table marts.customer_xref as
        select 'g{generation}-c' || (i % {customers}) as customer_id, 'crm' as source, 'contacts' as stream,
               'r' || i as record_id
        from range({2 * customers}) as t(i)
        """
    )


def replace_golden(con, generation: int, customers: int) -> None:
    con.execute("create schema if not exists marts")
    con.execute(
        f"""
        create or replace table marts.golden_customers as
        select 'g{generation}-c' || i as customer_id, 'Person ' || i as first_name
        from range({customers}) as t(i)
        """
    )


def build(con, generation: int, customers: int, padding_rows: int = 0) -> None:
    """A whole build: staging, then the marts in dbt's order (customer_xref before golden_customers)."""
    if padding_rows:
        write_padding(con, padding_rows)
    replace_xref(con, generation, customers)
    replace_golden(con, generation, customers)
