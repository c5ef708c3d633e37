"""The checks benchmark: `check_batch` on one landed batch, against one hand-written DuckDB query.

`python -m benchmarks.checks` lands one batch of `email.events` per scale (`--rows`), generated with
numpy and pyarrow from a seed: realistic ids, addresses, campaigns, links and timestamps, and a share of
malformed e-mail addresses large enough that the suite warns about them. The batch is written as the
connectors write one (zstd Parquet parts of 250,000 rows, in the contract's Arrow schema, then
`_SUCCESS`). Then, each in a child process of its own and taking turns:

- `check`: `tessera.checks.check_batch(home, contract, batch_id)`, exactly what the extract DAG runs
  after landing a batch: Parquet into an Arrow-backed pandas frame, the stream's Great Expectations
  suite, the result stored, the verdict marker, the Data Docs page. Imports are outside the clock and
  reported on their own; the time inside is split by stage (`STAGES`);
- `duckdb`: one hand-written DuckDB query over the same Parquet files that computes what the suite
  checks (the Parquet schema's columns and types, nulls in the required columns, duplicate keys, foreign
  batch ids, timestamps out of range, e-mail addresses that do not match the suite's pattern, the row
  count). Its verdicts are worked out from those figures and compared with the check's failures.

The ratio of the two says what the checks cost over the plain computation of the same facts, on this
machine today. The goal is at most `GOAL` times.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.harness.children import run_child
from benchmarks.harness.command import BenchmarkError
from benchmarks.harness.options import add_scale_options, resolve_scales
from benchmarks.harness.probes import cpu_seconds, peak_memory_mb, read_through, timed_call, warm_up_pyarrow
from benchmarks.harness.scales import ScaleBenchmark
from benchmarks.harness.stages import StageClock
from benchmarks.harness.tables import Column, Table, cell, ratio, ratio_cell, share, table_of

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("benchmarks.checks")

DEFAULT_SCALES = (100_000, 1_000_000)
#: At most this many times the DuckDB query's wall time, at 1,000,000 rows.
GOAL = 3.0
SOURCE, STREAM = "email", "events"
#: A daily batch, as the extract DAG names it (its interval's start), landed five minutes after the day.
BATCH_ID = "20260101T000000Z"
DAY = datetime(2026, 1, 1, tzinfo=UTC)
EXTRACTED_AT = DAY + timedelta(days=1, minutes=5)
#: The check's validation time (`now`), fixed so that "in the future" does not move between runs.
VALIDATED_AT = EXTRACTED_AT + timedelta(minutes=10)
#: As `connectors.lake.BatchWriter` writes a batch.
ROWS_PER_FILE = 250_000
#: Shares of the subscribers whose address is malformed (the suite warns below 90 % valid, so this
#: batch passes with one warning) and missing.
BAD_EMAIL_SHARE, NULL_EMAIL_SHARE = 0.12, 0.005
EVENT_TYPES = ("sent", "delivered", "open", "click", "bounce", "unsubscribe", "spam_complaint")
EVENT_WEIGHTS = (0.36, 0.34, 0.19, 0.07, 0.02, 0.015, 0.005)
LAST_NAMES = (
    "smith johnson williams brown jones garcia miller davis wilson taylor anderson thomas moore martin lee clark"
    " lewis walker hall young king wright scott green baker adams nelson hill campbell mitchell roberts schmidt"
    " schneider fischer weber meyer wagner becker dubois bernard durand lefebvre moreau laurent"
).split()
PRODUCTS = tuple(
    f"{adjective}-{item}"
    for adjective in ("classic", "organic", "merino", "vintage", "everyday", "linen")
    for item in ("tee", "hoodie", "chinos", "jacket", "sneakers", "backpack", "beanie", "socks")
)

#: Where `check_batch` spends its wall time: functions it calls, each timed in the check's process by
#: wrapping it (`StageClock`), as (module, function, stage). A stage's time excludes the stages timed
#: inside it: the frame's fingerprint is taken inside GX's validation. What no stage covers (loading
#: the suite, the volume band, reading the failures) is `other`. A function that is not there any more
#: is not timed, and its time falls in `other`.
STAGES = (
    ("tessera.checks.context", "open_context", "open the GX context"),
    ("tessera.checks.batch_checks", "read_batch", "read Parquet into Arrow"),
    ("tessera.checks.batch_checks", "_frame", "Arrow to pandas (ArrowDtype)"),
    (
        "great_expectations.execution_engine.pandas_execution_engine",
        "hash_pandas_dataframe",
        "GX: fingerprint the frame",
    ),
    ("tessera.checks.context", "run_suite", "GX: validate, store the result"),
    ("tessera.checks.holds", "record_verdict", "verdict marker"),
    ("tessera.checks.context", "build_data_docs", "Data Docs"),
)
OTHER = "other"


# The landed batch -------------------------------------------------------------------------------


def events_table(rows: int, seed: int) -> tuple[pa.Table, dict[str, int]]:
    """A day of `email.events` as the connector lands it (contract schema, `_record` as compact JSON with
    sorted keys), and how many rows carry a malformed or a missing e-mail address."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from tessera_simulator.pools import EMAIL_DOMAINS, NICKNAMES, SHOP_DOMAIN

    from connectors.contract import contract_for

    rng = np.random.default_rng(seed)
    null = pa.scalar(None, pa.string())

    def join(*parts):
        return pc.binary_join_element_wise(*parts, "")

    def pick(values, n: int):
        values = pa.array(sorted(values), pa.string())
        return pc.take(values, rng.integers(0, len(values), n))

    def numbered(prefix: str, start: int, n: int, width: int):
        digits = pc.cast(pa.array(np.arange(start, start + n)), pa.string())
        return join(prefix, pc.utf8_lpad(digits, width, "0"))

    # Subscribers: one address each, a share of them malformed in one of four ways, a few missing.
    subscribers = max(rows // 5, 1)
    local = join(
        pick({name.lower() for name in NICKNAMES}, subscribers),
        ".",
        pick(LAST_NAMES, subscribers),
        pc.cast(pa.array(rng.integers(1, 100, subscribers)), pa.string()),
    )
    domain = pick({d for domains, _ in EMAIL_DOMAINS.values() for d in domains}, subscribers)
    how = rng.integers(0, 4, subscribers)
    malformed = pc.case_when(
        pc.make_struct(pa.array(how == 0), pa.array(how == 1), pa.array(how == 2)),
        join(local, ".", domain),  # no @
        join(local, "@", pc.replace_substring(domain, ".", "")),  # no dot after the @
        join(local, " @", domain),  # a space before the @
        join(local, "@@", domain),  # two @
    )
    bad = rng.random(subscribers) < BAD_EMAIL_SHARE
    missing = rng.random(subscribers) < NULL_EMAIL_SHARE
    emails = pc.if_else(pa.array(bad), malformed, join(local, "@", domain))
    emails = pc.if_else(pa.array(rng.random(subscribers) < 0.01), join(" ", emails, " "), emails)  # stray spaces pass
    emails = pc.if_else(pa.array(missing), null, emails)

    # Events: each goes to a subscriber, in one of the day's campaigns; clicks carry a product link.
    who = rng.integers(0, subscribers, rows)
    campaigns = pa.array([f"{c:010x}" for c in rng.integers(0, 16**10, 24)], pa.string())
    campaign = pc.take(campaigns, rng.integers(0, len(campaigns), rows))
    weights = np.array(EVENT_WEIGHTS)
    event_type = pc.take(pa.array(EVENT_TYPES), rng.choice(len(EVENT_TYPES), rows, p=weights / weights.sum()))
    url = join(f"https://{SHOP_DOMAIN}/products/", pick(PRODUCTS, rows), "?utm_source=email&utm_campaign=", campaign)
    url = pc.if_else(pc.equal(event_type, "click"), url, null)
    start_ms = int(DAY.timestamp() * 1000)
    occurred_ms = pa.array(np.sort(start_ms + rng.integers(0, 86_400_000, rows)), pa.timestamp("ms", tz="UTC"))
    event_id = numbered("E", 1, rows, 10)
    subscriber_id = pc.take(numbered("S", 1, subscribers, 7), who)
    email = pc.take(emails, who)

    def quoted(values):
        return pc.if_else(pc.is_null(values), "null", join('"', values, '"'))

    record = join(
        *('{"campaign_id":', quoted(campaign), ',"email":', quoted(email), ',"id":', quoted(event_id)),
        *(',"subscriber_id":', quoted(subscriber_id), ',"timestamp":"'),
        *(pc.strftime(occurred_ms, format="%Y-%m-%dT%H:%M:%S"), 'Z","type":', quoted(event_type)),
        *(',"url":', quoted(url), "}"),
    )
    constant = np.zeros(rows, dtype=np.int32)
    columns = {
        "event_id": event_id,
        "subscriber_id": subscriber_id,
        "email": email,
        "campaign_id": campaign,
        "event_type": event_type,
        "url": url,
        "occurred_at": occurred_ms,
        "_batch_id": pc.take(pa.array([BATCH_ID]), constant),
        "_extracted_at": pc.take(pa.array([EXTRACTED_AT], pa.timestamp("us", tz="UTC")), constant),
        "_record": record,
    }
    schema = contract_for(SOURCE, STREAM).schema
    table = pa.table(columns).cast(schema)
    counts = {"bad_emails": int(bad[who].sum() - (bad & missing)[who].sum()), "null_emails": int(missing[who].sum())}
    return table, counts


@dataclass(frozen=True)
class Batch:
    """The landed batch one scale measures: a Tessera home holding one published, unchecked batch."""

    home: Path
    folder: Path
    rows: int
    files: int
    parquet_bytes: int
    bad_emails: int
    null_emails: int
    seconds: float

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob("*.parquet"))

    def summary(self) -> dict[str, Any]:
        return {
            "stream": f"{SOURCE}.{STREAM}",
            "batch_id": BATCH_ID,
            "home": str(self.home),
            "rows": self.rows,
            "files": self.files,
            "parquet_bytes": self.parquet_bytes,
            "bad_emails": self.bad_emails,
            "null_emails": self.null_emails,
            "seconds": self.seconds,
        }


def land_batch(workdir: Path, rows: int, seed: int) -> Batch:
    """Generate the batch and land it in a fresh home, `<workdir>/checks-r<rows>-s<seed>/`, the way a
    connector does: Parquet parts in the contract's schema, then `_SUCCESS` (published, not checked)."""
    import pyarrow.parquet as pq

    from connectors.lake import SUCCESS, batch_dir, write_marker

    started = time.perf_counter()
    home = workdir / f"checks-r{rows}-s{seed}"
    shutil.rmtree(home, ignore_errors=True)
    table, counts = events_table(rows, seed)
    folder = batch_dir(home / "lake", "raw", SOURCE, STREAM, BATCH_ID)
    folder.mkdir(parents=True)
    for number, offset in enumerate(range(0, rows, ROWS_PER_FILE)):
        pq.write_table(table.slice(offset, ROWS_PER_FILE), folder / f"part-{number:05d}.parquet", compression="zstd")
    write_marker(folder, SUCCESS)
    parts = sorted(folder.glob("*.parquet"))
    return Batch(
        home,
        folder,
        rows,
        len(parts),
        sum(p.stat().st_size for p in parts),
        **counts,
        seconds=time.perf_counter() - started,
    )


def reset_batch(batch: Batch) -> None:
    """Put the batch back as the loader left it: no verdict marker, and no check results in the home, so
    every measured check is the batch's first (the Data Docs index grows with every stored result)."""
    from connectors.lake import CHECKED, HELD, remove_marker
    from tessera.checks.context import checks_dir
    from tessera.home import TesseraHome

    for marker in (CHECKED, HELD):
        remove_marker(batch.folder, marker)
    shutil.rmtree(checks_dir(TesseraHome(batch.home)), ignore_errors=True)


# The measured work: runs inside a child process --------------------------------------------------


def check_child(home: str, batch_id: str, validated_at: str, profile: str | None = None) -> dict[str, Any]:
    """`check_batch` on the landed batch, imports outside the clock; with `profile`, a cProfile of the
    timed call is written there (and the seconds include the profiler's overhead)."""
    started = time.perf_counter()
    import great_expectations  # noqa: F401 - what `check_batch` imports on its first call
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import tessera.checks.arrow_type  # noqa: F401
    from connectors.contract import contract_for
    from tessera.checks import check_batch
    from tessera.home import TesseraHome

    warm_up_pyarrow()
    import_seconds, import_mb = time.perf_counter() - started, peak_memory_mb()
    clock = StageClock()
    timed = [stage for module, function, stage in STAGES if clock.wrap(module, function, stage)]
    contract = contract_for(SOURCE, STREAM)
    result, seconds, cpu = timed_call(
        lambda: check_batch(TesseraHome(Path(home)), contract, batch_id, now=datetime.fromisoformat(validated_at)),
        profile,
    )
    stages = {stage: clock.seconds.get(stage, 0.0) for stage in timed}
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "import_seconds": import_seconds,
        "import_mb": import_mb,
        "peak_mb": peak_memory_mb(),
        "stages": {**stages, OTHER: seconds - sum(stages.values())},
        "profiled": bool(profile),
        "rows": result.rows,
        "expectations": result.expectations,
        "passed": result.passed,
        "failures": [
            {"expectation": f.expectation_type, "column": f.column, "severity": f.severity, "observed": f.observed}
            for f in (*result.critical, *result.warnings)
        ],
    }


#: The Parquet schema's types as pyarrow names them (those the landing contract uses); any other is shown
#: as `<physical>/<logical>`, which no expectation asks for.
ARROW_TYPE_SQL = """
    case
        when type = 'BYTE_ARRAY' and converted_type = 'UTF8' then 'string'
        when type = 'BOOLEAN' then 'bool'
        when type = 'INT64' and converted_type is null and logical_type is null then 'int64'
        when type = 'INT64' and converted_type = 'TIMESTAMP_MICROS'
            and logical_type like 'TimestampType(isAdjustedToUTC=1,%' then 'timestamp[us, tz=UTC]'
        when type = 'FIXED_LEN_BYTE_ARRAY' and converted_type = 'DECIMAL'
            then 'decimal128(' || precision || ', ' || scale || ')'
        else type || '/' || coalesce(logical_type, converted_type, 'none')
    end
"""

#: What `email.events`' suite checks, as one query over the batch's part files, written by hand.
DUCKDB_QUERY = f"""
with
schema as (
    select name, list(distinct {ARROW_TYPE_SQL}) as types
    from parquet_schema($files)
    where num_children is null
    group by name
),
batch as (
    select * from read_parquet($files)
)
select
    (select list({{'column': name, 'types': types}} order by name) from schema) as columns,
    count(*) as row_count,
    {{
        'event_id': count(*) - count(event_id),
        'event_type': count(*) - count(event_type),
        'occurred_at': count(*) - count(occurred_at),
        '_batch_id': count(*) - count(_batch_id),
        '_extracted_at': count(*) - count(_extracted_at)
    }} as nulls,
    count(event_id) - count(distinct event_id) as duplicate_keys,
    count(*) filter (where _batch_id <> $batch_id) as foreign_batch_ids,
    {{
        'occurred_at': count(*) filter (where occurred_at < $earliest or occurred_at > $validated_at),
        '_extracted_at': count(*) filter (where _extracted_at < $earliest or _extracted_at > $validated_at)
    }} as out_of_range,
    min(occurred_at) as first_occurred_at,
    max(occurred_at) as last_occurred_at,
    min(_extracted_at) as first_extracted_at,
    max(_extracted_at) as last_extracted_at,
    count(email) as emails,
    count(*) filter (where not regexp_matches(email, $email_pattern)) as unmatched_emails
from batch
"""


def duckdb_child(
    parts: list[str], batch_id: str, validated_at: str, earliest: str, email_pattern: str
) -> dict[str, Any]:
    """The hand-written query on the batch's part files, `duckdb` imported outside the clock; its figures."""
    started = time.perf_counter()
    import duckdb

    import_seconds, import_mb = time.perf_counter() - started, peak_memory_mb()
    cpu, started = cpu_seconds(), time.perf_counter()
    con = duckdb.connect()
    try:
        cursor = con.execute(
            DUCKDB_QUERY,
            {
                "files": parts,
                "batch_id": batch_id,
                "validated_at": datetime.fromisoformat(validated_at),
                "earliest": datetime.fromisoformat(earliest),
                "email_pattern": email_pattern,
            },
        )
        names = [column[0] for column in cursor.description]
        facts = dict(zip(names, cursor.fetchone(), strict=True))
    finally:
        con.close()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "import_seconds": import_seconds,
        "import_mb": import_mb,
        "peak_mb": peak_memory_mb(),
        "facts": json.loads(json.dumps(facts, default=lambda value: value.isoformat())),
    }


# What the query's figures say about each expectation of the suite ------------------------------


def suite_expectations() -> list[dict[str, Any]]:
    """The stream's suite, read as the JSON file it is (no GX in the benchmark's own process)."""
    from tessera.checks.suites import suite_file

    return json.loads(suite_file(f"{SOURCE}.{STREAM}").read_text())["expectations"]


def suite_setting(expectation_type: str, key: str) -> Any:
    """One setting the query takes from the suite (the e-mail pattern, the earliest timestamp)."""
    values = {e["kwargs"][key] for e in suite_expectations() if e["type"] == expectation_type and key in e["kwargs"]}
    if len(values) != 1:
        raise BenchmarkError(f"the {SOURCE}.{STREAM} suite has {sorted(values)} for {expectation_type} {key}")
    return values.pop()


def duckdb_failures(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The expectations of the suite that the query's figures fail, with the severity the check gives them
    (`meta.severity`, a critical rate downgraded below `meta.critical_min_rows`). An expectation the query
    does not cover raises: the query must be extended with the suite."""
    types = {c["column"]: c["types"] for c in facts["columns"]}
    rows = facts["row_count"]
    failed = []
    for expectation in suite_expectations():
        kind, kwargs, meta = expectation["type"], expectation["kwargs"], expectation.get("meta") or {}
        column = kwargs.get("column")
        if kind == "expect_table_columns_to_match_set":
            holds = set(types) == set(kwargs["column_set"])
        elif kind == "expect_column_to_have_arrow_type":
            holds = types.get(column) == [kwargs["arrow_type"]]
        elif kind == "expect_column_values_to_not_be_null":
            holds = facts["nulls"][column] == 0
        elif kind == "expect_column_values_to_be_unique":
            holds = facts["duplicate_keys"] == 0
        elif kind == "expect_column_values_to_be_in_set" and column == "_batch_id":
            holds = facts["foreign_batch_ids"] == 0
        elif kind == "expect_column_values_to_be_between":
            holds = facts["out_of_range"][column] == 0
        elif kind == "expect_column_values_to_match_regex" and column == "email":
            emails = facts["emails"]
            holds = not emails or facts["unmatched_emails"] / emails <= 1 - kwargs.get("mostly", 1)
        elif kind == "expect_table_row_count_to_be_between":
            holds = True  # the first batch of the stream: no volume band yet (tessera/checks/volume.py)
        else:
            raise BenchmarkError(f"the DuckDB query does not compute {kind} on {column}: extend DUCKDB_QUERY")
        if not holds:
            severity = meta.get("severity")
            if severity == "critical" and rows < meta.get("critical_min_rows", 0):
                severity = "warning"
            failed.append({"expectation": kind, "column": column, "severity": severity})
    return failed


def verdict(failures: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    """What two sides must agree on: which expectations failed, on which column, at which severity."""
    return sorted((f["expectation"], f["column"], f["severity"]) for f in failures)


# The run: batch, children, figures --------------------------------------------------------------


def measure(batch: Batch, repeat: int) -> tuple[list[dict], list[dict]]:
    """Every check and its DuckDB query, taking turns so drift on the machine hits both alike."""
    checks, queries = [], []
    earliest = suite_setting("expect_column_values_to_be_between", "min_value")
    pattern = suite_setting("expect_column_values_to_match_regex", "regex")
    for attempt in range(1, repeat + 1):
        reset_batch(batch)
        read_through(batch.parts())
        check = run_child(
            "benchmarks.checks:check_child",
            f"the check of {batch.folder}",
            home=str(batch.home),
            batch_id=BATCH_ID,
            validated_at=VALIDATED_AT.isoformat(),
        )
        checks.append(check)
        log.info(
            "  run %d/%d check  %7.2f s, peak %7.1f MB (imports %.1f s)",
            attempt,
            repeat,
            check["seconds"],
            check["peak_mb"],
            check["import_seconds"],
        )
        query = run_child(
            "benchmarks.checks:duckdb_child",
            f"the DuckDB query over {batch.folder}",
            parts=[str(p) for p in batch.parts()],
            batch_id=BATCH_ID,
            validated_at=VALIDATED_AT.isoformat(),
            earliest=earliest,
            email_pattern=pattern,
        )
        queries.append(query)
        log.info(
            "  run %d/%d DuckDB %7.2f s, peak %7.1f MB (imports %.2f s)",
            attempt,
            repeat,
            query["seconds"],
            query["peak_mb"],
            query["import_seconds"],
        )
    return checks, queries


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def summarise(batch: Batch, checks: list[dict], queries: list[dict]) -> dict[str, Any]:
    """One scale's figures: medians over the repeats, the check's stages, and both sides' verdicts."""
    for side, runs, key in (("check", checks, "failures"), ("DuckDB", queries, "facts")):
        if any(run[key] != runs[0][key] for run in runs):
            raise BenchmarkError(f"the {side} runs disagree on {key}: {[run[key] for run in runs]}")
    check, facts = checks[0], queries[0]["facts"]
    if check["rows"] != batch.rows or facts["row_count"] != batch.rows:
        raise BenchmarkError(
            f"{batch.rows:,} rows were landed, the check read {check['rows']:,} and DuckDB {facts['row_count']:,}"
        )
    seconds, duckdb_seconds = median(checks, "seconds"), median(queries, "seconds")
    peak_mb, duckdb_peak_mb = median(checks, "peak_mb"), median(queries, "peak_mb")
    stages = [
        {"stage": stage, "seconds": statistics.median(run["stages"][stage] for run in checks)}
        for stage in check["stages"]
    ]
    duckdb_found = duckdb_failures(facts)
    time_ratio = ratio(seconds, duckdb_seconds)
    return {
        "rows": batch.rows,
        "batch": batch.summary(),
        "expectations": check["expectations"],
        "passed": check["passed"],
        "failures": check["failures"],
        "seconds": seconds,
        "cpu_seconds": median(checks, "cpu_seconds"),
        "import_seconds": median(checks, "import_seconds"),
        "import_mb": median(checks, "import_mb"),
        "peak_mb": peak_mb,
        "stages": [{**s, "share": s["seconds"] / seconds} for s in stages],
        "duckdb_seconds": duckdb_seconds,
        "duckdb_cpu_seconds": median(queries, "cpu_seconds"),
        "duckdb_import_seconds": median(queries, "import_seconds"),
        "duckdb_import_mb": median(queries, "import_mb"),
        "duckdb_peak_mb": duckdb_peak_mb,
        "duckdb_facts": facts,
        "duckdb_failures": duckdb_found,
        "verdicts_agree": verdict(check["failures"]) == verdict(duckdb_found),
        "time_ratio": time_ratio,
        "memory_ratio": ratio(peak_mb, duckdb_peak_mb),
        "goal": GOAL,
        "within_goal": time_ratio is not None and time_ratio <= GOAL,
        "runs": {"check": checks, "duckdb": queries},
    }


STAGE_COLUMNS: tuple[Column, ...] = (
    ("stage", cell("stage")),
    ("seconds", cell("seconds", ".2f")),
    ("share", share("share")),
)


def stage_table(result: dict[str, Any]) -> Table:
    """One scale's check, stage by stage, its total, and the DuckDB query for comparison."""
    table = table_of(STAGE_COLUMNS, result["stages"])
    total = ("check_batch (wall)", f"{result['seconds']:.2f}", "100.0 %")
    query = ("DuckDB query (wall)", f"{result['duckdb_seconds']:.2f}", "")
    return Table(table.header, (*table.rows, total, query))


SCALE_COLUMNS: tuple[Column, ...] = (
    ("rows", cell("rows", ",")),
    ("expectations", cell("expectations", ",")),
    ("check s", cell("seconds", ".2f")),
    ("check MB", cell("peak_mb", ",.0f")),
    ("GX import s", cell("import_seconds", ".1f")),
    ("DuckDB s", cell("duckdb_seconds", ".2f")),
    ("DuckDB MB", cell("duckdb_peak_mb", ",.0f")),
    ("time ×", cell("time_ratio", ".1f")),
    ("memory ×", cell("memory_ratio", ".1f")),
    ("same verdicts", lambda r: "yes" if r["verdicts_agree"] else "no"),
)


def readme_tables(report: dict[str, Any]) -> dict[str, Table]:
    """A stage table per scale (`stages-<rows>`) and the table across the scales (`scales`)."""
    tables = {f"stages-{r['rows']}": stage_table(r) for r in report["results"]}
    return {**tables, "scales": table_of(SCALE_COLUMNS, report["results"])}


def summary_line(r: dict[str, Any]) -> str:
    facts = r["duckdb_facts"]
    found = "; ".join(f"{f['severity']} {f['expectation']} on {f['column']}: {f['observed']}" for f in r["failures"])
    return (
        f"check_batch {r['seconds']:.2f} s (imports {r['import_seconds']:.1f} s more), peak {r['peak_mb']:,.0f} MB;"
        f" DuckDB {r['duckdb_seconds']:.2f} s (imports {r['duckdb_import_seconds']:.2f} s more),"
        f" peak {r['duckdb_peak_mb']:,.0f} MB. check ÷ DuckDB {ratio_cell(r['time_ratio'], 1)}"
        f" (goal ≤ {GOAL:g}: {'met' if r['within_goal'] else 'missed'}).\n"
        f"The check {'passed' if r['passed'] else 'held the batch'} ({r['expectations']} expectations): "
        f"{found or 'no failures'}.\n"
        f"DuckDB: {facts['row_count']:,} rows, {facts['duplicate_keys']:,} duplicate keys,"
        f" {sum(facts['nulls'].values()):,} nulls in required columns, {facts['foreign_batch_ids']:,} foreign batch ids,"
        f" {sum(facts['out_of_range'].values()):,} timestamps out of range"
        f" (occurred_at {facts['first_occurred_at']} to {facts['last_occurred_at']}),"
        f" {facts['unmatched_emails']:,} of {facts['emails']:,} e-mail addresses not matching;"
        f" {'the same verdicts as the check' if r['verdicts_agree'] else 'OTHER VERDICTS THAN THE CHECK'}."
    )


def run_scale(workdir: Path, rows: int, seed: int, repeat: int) -> dict[str, Any]:
    """The batch and every measured run at one scale; its summary."""
    log.info("landing %s rows of %s.%s (seed %d)", f"{rows:,}", SOURCE, STREAM, seed)
    batch = land_batch(workdir, rows, seed)
    log.info("  landed in %.1f s: %d part files, %.1f MB", batch.seconds, batch.files, batch.parquet_bytes / 2**20)
    log.info("measuring: %d × (check_batch, then the DuckDB query)", repeat)
    checks, queries = measure(batch, repeat)
    result = summarise(batch, checks, queries)
    if not result["verdicts_agree"]:
        log.warning("the check and the DuckDB query disagree: %s", result["failures"])
    return {**result, "seed": seed}


def heading(result: dict[str, Any]) -> str:
    batch = result["batch"]
    return (
        f"check_batch on one {batch['stream']} batch of {result['rows']:,} rows"
        f" ({batch['files']} part files, {batch['parquet_bytes'] / 2**20:.1f} MB; seed {result['seed']})"
    )


def context() -> dict[str, Any]:
    return {
        "stream": f"{SOURCE}.{STREAM}",
        "goal": GOAL,
        "versions": {name: version(name) for name in ("great_expectations", "duckdb", "pandas", "pyarrow")},
    }


@dataclass(frozen=True)
class BatchScaleBenchmark(ScaleBenchmark):
    """A `ScaleBenchmark` whose scale is the rows of one batch (`--rows`), not the people of a world."""

    def parse_args(self, argv: list[str] | None) -> argparse.Namespace:
        parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{self.name}", description=self.description)
        add_scale_options(parser, self.default_scales, self.repeat_help, rows=True)
        args = parser.parse_args(argv)
        resolve_scales(args, self.default_scales)
        return args


BENCHMARK = BatchScaleBenchmark(
    name="checks",
    description="Time the data-quality check of one landed batch (tessera.checks.check_batch) against one "
    "hand-written DuckDB query computing the same expectations, in the same run (see benchmarks/README.md).",
    default_scales=DEFAULT_SCALES,
    repeat_help="checks and queries per scale, reporting the median",
    run_scale=run_scale,
    heading=heading,
    table="stages",
    summary=summary_line,
    readme_tables=readme_tables,
    context=context,
    footnote=f"seconds: wall time in the child process, imports excluded; time ×: check ÷ DuckDB (goal ≤ {GOAL:g}).",
)


def main(argv: list[str] | None = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    sys.exit(main())
