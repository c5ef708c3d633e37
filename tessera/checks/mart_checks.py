"""Checking the golden marts and segments dbt just built, before they are published to readers.

GX cannot validate DuckDB through SQLAlchemy, so each mart is read by one query into an Arrow-backed frame
and validated there. The queries do the work only the warehouse can do cheaply, and leave personal data
in it: `golden_customers` comes with each customer's number of profile records (the CRM contacts, ESP
subscribers and loyalty members merged into it, the over-merging guard) and a 0/1 `has_contact_point`
instead of the e-mail and phone themselves; `customer_xref` comes with `customer_exists`, whether its
customer is in `golden_customers`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from tessera.checks.results import CheckResult, failures_of
from tessera.home import TesseraHome

#: The streams whose records describe a person, and so are merged into one by identity resolution.
PROFILE_STREAMS = ("contacts", "subscribers", "loyalty_members")


@dataclass(frozen=True)
class MartQuery:
    suite: str
    sql: str
    #: the columns that identify a failing row in messages
    index_columns: tuple[str, ...]


MART_QUERIES = (
    MartQuery(
        "marts.golden_customers",
        f"""
        with profile_records as (
            select customer_id, count(*) as profile_records
            from marts.customer_xref
            where stream in ({", ".join(f"'{s}'" for s in PROFILE_STREAMS)})
            group by customer_id
        )
        select
            golden.customer_id,
            golden.marketing_consent,
            golden.marketing_consent_source,
            golden.record_count,
            coalesce(profile_records.profile_records, 0) as profile_records,
            case when golden.email is not null or golden.phone is not null then 1 else 0 end as has_contact_point
        from marts.golden_customers as golden
        left join profile_records on golden.customer_id = profile_records.customer_id
        order by golden.customer_id
        """,
        ("customer_id",),
    ),
    MartQuery(
        "marts.customer_xref",
        """
        select
            xref.source,
            xref.stream,
            xref.record_id,
            xref.customer_id,
            xref.customer_id in (select customer_id from marts.golden_customers) as customer_exists
        from marts.customer_xref as xref
        order by xref.source, xref.stream, xref.record_id
        """,
        ("source", "stream", "record_id", "customer_id"),
    ),
)


#: The suite of a segment that has none of its own (`expectations/gx/expectations/segments/default.json`).
DEFAULT_SEGMENT_SUITE = "segments.default"


def segment_queries(con) -> list[MartQuery]:
    """One query per segment the build made (schema `segments`): its members, and whether each is a customer."""
    tables = con.execute(
        "select table_name from information_schema.tables where table_schema = 'segments' order by table_name"
    ).fetchall()
    return [
        MartQuery(
            f"segments.{table}",
            f"""
            select
                seg.customer_id,
                seg.customer_id in (select customer_id from marts.golden_customers) as customer_exists
            from segments."{table}" as seg
            order by seg.customer_id
            """,
            ("customer_id",),
        )
        for (table,) in tables
    ]


def check_marts(home: TesseraHome, *, now: datetime | None = None) -> list[CheckResult]:
    """Validate the marts and segments in the home's working warehouse (the build dbt just finished).
    Failures are returned, not raised (`raise_on_critical` raises them); a missing or locked warehouse raises."""
    import pandas as pd

    from tessera.checks.context import build_data_docs, open_context, run_suite
    from tessera.checks.suites import load_suite, suite_file
    from tessera.warehouse import connect_working

    validated_at = now or datetime.now(UTC)
    with connect_working(home) as con:
        queries = [*MART_QUERIES, *segment_queries(con)]
        frames = [(mart, con.sql(mart.sql).to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)) for mart in queries]
    context = open_context(home)
    checked = []
    for mart, frame in frames:
        suite_name = mart.suite
        if suite_name.startswith("segments.") and not suite_file(suite_name).exists():
            suite_name = DEFAULT_SEGMENT_SUITE
        validation, key = run_suite(
            context,
            load_suite(context, suite_name),
            frame,
            parameters={},
            run_name="warehouse",
            validated_at=validated_at,
            index_columns=list(mart.index_columns),
        )
        failures = failures_of(mart.suite, validation)
        critical = [f for f in failures if f.severity == "critical"]
        result = CheckResult(
            suite=mart.suite,
            target=str(home.warehouse),
            passed=not critical,
            critical=critical,
            warnings=[f for f in failures if f.severity != "critical"],
            expectations=len(validation.results),
            rows=len(frame),
            validated_at=validated_at,
        )
        checked.append((result, key))
    pages = build_data_docs(context, [key for _, key in checked])
    return [replace(result, docs_page=page) for (result, _), page in zip(checked, pages, strict=True)]
