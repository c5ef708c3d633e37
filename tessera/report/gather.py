"""What the run report shows, gathered as aggregates from where each fact lives.

Each function reads one place and returns a small typed object, or `Missing` saying what is not there yet
(no lake, no published warehouse, no sync), so a new or partial home still gets a report. Counts come from
the lake's Parquet footers (the files each batch is made of, no data read), from the published warehouse
opened read-only with DuckDB, the sync log, and the checks' marker files and results. Nothing here returns a row about
one person: only counts, shares and bands, so the report can be mailed around without leaking an e-mail.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tessera.checks.mart_checks import PROFILE_STREAMS  # the profile streams: what identity resolution clusters
from tessera.home import TesseraHome

#: Bucket edges for records per customer: a bucket is [low, next low); the last is open.
RECORD_BUCKETS = (1, 2, 3, 4, 5, 6, 11, 21, 51)
#: Bucket edges for profile records per customer (the identity cluster's size); 0 is a customer known only
#: through transactions or web visits.
CLUSTER_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 11)
#: Probability bands of probabilistic match pairs, as [low, high).
PROBABILITY_BANDS = ((0.0, 0.95), (0.95, 0.98), (0.98, 0.99), (0.99, 0.999), (0.999, 1.000001))
#: How many builds of the customer-id history the growth chart reconstructs, newest last.
GROWTH_BUILDS = 60
#: How many combinations of agreeing comparisons the match section lists.
TOP_EVIDENCE = 8


@dataclass(frozen=True)
class Missing:
    """A section that has nothing to show yet, and why (what to run to get it)."""

    reason: str


# --- the lake ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayVolume:
    source: str
    day: str
    landed: int
    quarantined: int

    @property
    def quarantine_rate(self) -> float:
        total = self.landed + self.quarantined
        return self.quarantined / total if total else 0.0


@dataclass(frozen=True)
class LakeVolume:
    #: per source and day, in order; batches whose id names no time (a manual or foreign load) under UNDATED
    days: list[DayVolume]

    @property
    def sources(self) -> list[str]:
        return sorted({d.source for d in self.days})

    @property
    def landed(self) -> int:
        return sum(d.landed for d in self.days)

    @property
    def quarantined(self) -> int:
        return sum(d.quarantined for d in self.days)


#: The day of batches whose id names no time; sorts after every date.
UNDATED = "undated"
_DAY_IN_BATCH = re.compile(r"(\d{4})(\d{2})(\d{2})T\d{6}Z")


def batch_day(batch_id: str) -> str | None:
    """The day a batch's interval starts (`2026-01-03` for `20260103T000000Z`, or the end of an initial load
    `upto-20260103T000000Z`), or None for an id that names no time."""
    found = _DAY_IN_BATCH.search(batch_id)
    return f"{found[1]}-{found[2]}-{found[3]}" if found else None


def lake_volume(home: TesseraHome) -> LakeVolume | Missing:
    """Rows landed and quarantined per source and day (the day the batch's interval starts)."""
    from tessera.lake_report import ZONES, batch_rows

    landed, quarantined = ([(b.source, b.batch_id, b.rows) for b in batch_rows(home.lake, zone)] for zone in ZONES)
    if not landed and not quarantined:
        return Missing(f"nothing has landed in the lake ({home.lake}) yet: run the extract DAGs or `tessera extract`")
    per_day: dict[tuple[str, str], list[int]] = {}
    for index, rows in enumerate((landed, quarantined)):
        for source, batch_id, count in rows:
            per_day.setdefault((source, batch_day(batch_id) or UNDATED), [0, 0])[index] += count
    return LakeVolume([DayVolume(source, day, n[0], n[1]) for (source, day), n in sorted(per_day.items())])


# --- the published warehouse --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Publication:
    path: Path
    published_at: datetime | None
    tables: dict[str, int]


def publication(home: TesseraHome) -> Publication | Missing:
    """The published warehouse the other sections read, or why there is none."""
    from tessera.publication import last_publication, published_path

    path = published_path(home)
    if not path.exists():
        return Missing(f"no published warehouse at {path} yet: run `tessera transform` (or the transform DAG)")
    published = last_publication(home)
    if published is not None:
        return Publication(path, published.published_at, published.tables)
    from tessera.warehouse import mart_counts

    return Publication(path, None, mart_counts(home))


def _has_table(con, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _buckets(counts: dict[int, int], edges: tuple[int, ...]) -> list[tuple[str, int]]:
    """Customers per bucket of a count, every bucket listed (empty ones too), labels like `6–10` and `51+`."""
    out = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        label = f"{low}+" if high is None else (str(low) if high == low + 1 else f"{low}–{high - 1}")
        out.append((label, sum(n for k, n in counts.items() if k >= low and (high is None or k < high))))
    return out


@dataclass(frozen=True)
class ClusterSizes:
    customers: int
    records: int
    median_records: float
    max_records: int
    #: customers per bucket of records per customer (every source record: profiles, transactions, visitors)
    records_per_customer: list[tuple[str, int]]
    #: customers per bucket of profile records (CRM contacts, ESP subscribers, loyalty members) per customer
    cluster_sizes: list[tuple[str, int]]
    largest_cluster: int


@dataclass(frozen=True)
class SourceCoverage:
    customers: int
    #: customers seen in 1, 2, 3, 4 sources
    by_source_count: dict[int, int]
    #: customers per combination of sources (`crm+email+pos`), largest first
    by_combination: list[tuple[str, int]]
    #: customers each source knows
    by_source: dict[str, int]


def cluster_sizes(con) -> ClusterSizes | Missing:
    if not _has_table(con, "marts", "golden_customers"):
        return Missing("the published warehouse has no marts.golden_customers")
    customers, records, median, largest = con.execute(
        "select count(*), coalesce(sum(record_count), 0), median(record_count), coalesce(max(record_count), 0)"
        " from marts.golden_customers"
    ).fetchone()
    if not customers:
        return Missing("marts.golden_customers is empty: no customer has been resolved yet")
    per_customer = dict(con.execute("select record_count, count(*) from marts.golden_customers group by 1").fetchall())
    profile_list = ", ".join(f"'{stream}'" for stream in PROFILE_STREAMS)
    clusters = dict(
        con.execute(
            f"""
            with sizes as (
                select golden.customer_id, count(xref.record_id) as profile_records
                from marts.golden_customers as golden
                left join marts.customer_xref as xref
                    on xref.customer_id = golden.customer_id and xref.stream in ({profile_list})
                group by 1
            )
            select profile_records, count(*) from sizes group by 1
            """
        ).fetchall()
    )
    return ClusterSizes(
        customers=int(customers),
        records=int(records),
        median_records=float(median or 0),
        max_records=int(largest),
        records_per_customer=_buckets({int(k or 0): int(v) for k, v in per_customer.items()}, RECORD_BUCKETS),
        cluster_sizes=_buckets({int(k): int(v) for k, v in clusters.items()}, CLUSTER_BUCKETS),
        largest_cluster=max(clusters) if clusters else 0,
    )


def source_coverage(con) -> SourceCoverage | Missing:
    if not _has_table(con, "marts", "golden_customers"):
        return Missing("the published warehouse has no marts.golden_customers")
    combinations = con.execute(
        """
        with customer_sources as (
            select list_sort(list_distinct(string_split(replace(sources, ' ', ''), ','))) as sources
            from marts.golden_customers
        )
        select array_to_string(sources, '+') as combination, len(sources) as n_sources, count(*) as customers
        from customer_sources
        group by all
        order by customers desc, combination
        """
    ).fetchall()
    if not combinations:
        return Missing("marts.golden_customers is empty: no customer has been resolved yet")
    by_count: Counter[int] = Counter()
    by_source: Counter[str] = Counter()
    for combination, n_sources, customers in combinations:
        by_count[int(n_sources)] += int(customers)
        for source in filter(None, combination.split("+")):
            by_source[source] += int(customers)
    return SourceCoverage(
        customers=sum(by_count.values()),
        by_source_count={n: by_count.get(n, 0) for n in range(1, max(4, *by_count) + 1)},
        by_combination=[(c or "(none)", int(n)) for c, _, n in combinations],
        by_source=dict(sorted(by_source.items())),
    )


@dataclass(frozen=True)
class MatchPairs:
    #: (identifier type, stitching decision, edges) from int_identity_resolution
    edges_by_rule: list[tuple[str, str, int]]
    #: probabilistic pairs per probability band, or None when the warehouse has no probabilistic matching
    pairs_by_band: list[tuple[str, int]] | None
    #: probabilistic pairs per combination of comparisons that agreed exactly, most frequent first
    pairs_by_evidence: list[tuple[str, int]]
    probabilistic_pairs: int


def _band_label(low: float, high: float) -> str:
    return f"< {high:g}" if low == 0 else (f"≥ {low:g}" if high > 1 else f"{low:g}–{high:g}")


def _agreeing(detail: str | None) -> str:
    """The comparisons of a pair's `match_detail` that agreed exactly (Splink's top level), named in order."""
    try:
        levels = json.loads(detail or "{}")
    except json.JSONDecodeError:
        return "(unreadable)"
    exact = sorted(
        name
        for name, level in levels.items()
        if isinstance(level, dict) and str(level.get("level", "")).lower().startswith("exact")
    )
    return " + ".join(exact) if exact else "(no exact agreement)"


def match_pairs(con) -> MatchPairs | Missing:
    if not _has_table(con, "intermediate", "int_identity_resolution"):
        return Missing("the published warehouse has no intermediate.int_identity_resolution (identity resolution)")
    edges = [
        (str(kind), str(decision), int(n))
        for kind, decision, n in con.execute(
            "select identifier_type, decision, count(*) from intermediate.int_identity_resolution"
            " group by all order by 1, 2"
        ).fetchall()
    ]
    if not edges:
        return Missing("the identity graph is empty: no record carries an identifier yet")
    bands, evidence, total = None, [], 0
    if _has_table(con, "intermediate", "int_identity_edges__probabilistic"):
        band_sql = " ".join(
            f"when match_probability >= {low!r} and match_probability < {high!r} then {i}"
            for i, (low, high) in enumerate(PROBABILITY_BANDS)
        )
        counted = dict(
            con.execute(
                f"select case {band_sql} end, count(*) from intermediate.int_identity_edges__probabilistic"
                " where match_probability is not null group by 1"
            ).fetchall()
        )
        bands = [(_band_label(low, high), int(counted.get(i, 0))) for i, (low, high) in enumerate(PROBABILITY_BANDS)]
        total = sum(n for _, n in bands)
        patterns: Counter[str] = Counter()
        for detail, n in con.execute(
            "select match_detail, count(*) from intermediate.int_identity_edges__probabilistic"
            " where match_probability is not null group by 1"
        ).fetchall():
            patterns[_agreeing(detail)] += int(n)
        top = patterns.most_common(TOP_EVIDENCE)
        rest = total - sum(n for _, n in top)
        evidence = top + ([("(other combinations)", rest)] if rest else [])
    return MatchPairs(edges, bands, evidence, total)


@dataclass(frozen=True)
class GrowthPoint:
    built_at: datetime
    customers: int
    new_ids: int
    retired_ids: int


@dataclass(frozen=True)
class GoldenGrowth:
    points: list[GrowthPoint]
    golden_rows: int
    merges: dict[str, int]
    #: builds before the ones shown (the chart shows the newest GROWTH_BUILDS)
    earlier_builds: int


def golden_growth(con) -> GoldenGrowth | Missing:
    """Customers after each build, reconstructed from the append-only customer-id history: at a build's
    time a customer exists when some record's latest assignment at that time carries its id."""
    if not _has_table(con, "intermediate", "int_customer_id_history"):
        return Missing("the published warehouse has no intermediate.int_customer_id_history (stable customer ids)")
    builds = [
        row[0]
        for row in con.execute(
            "select distinct assigned_at from intermediate.int_customer_id_history order by 1"
        ).fetchall()
    ]
    if not builds:
        return Missing("no customer id has been assigned yet")
    # one build more than shown: the customers before the first one shown tell how many ids it retired
    window = builds[-(GROWTH_BUILDS + 1) :]
    rows = con.execute(
        """
        with history as (
            select
                record_key,
                customer_id,
                assigned_at,
                lead(assigned_at) over (partition by record_key order by assigned_at) as replaced_at
            from intermediate.int_customer_id_history
        ),
        builds as (select unnest(?::timestamp[]) as built_at),
        active as (
            select builds.built_at, count(distinct history.customer_id) as customers
            from builds
            inner join history
                on history.assigned_at <= builds.built_at
                and (history.replaced_at is null or history.replaced_at > builds.built_at)
            where history.customer_id is not null
            group by 1
        ),
        births as (
            select born_at as built_at, count(*) as new_ids
            from (select customer_id, min(assigned_at) as born_at from history where customer_id is not null group by 1)
            group by 1
        )
        select builds.built_at, coalesce(active.customers, 0), coalesce(births.new_ids, 0)
        from builds
        left join active using (built_at)
        left join births using (built_at)
        order by 1
        """,
        [window],
    ).fetchall()
    points, previous = [], 0
    for built_at, customers, new_ids in rows:
        retired = max(0, previous + int(new_ids) - int(customers))
        points.append(GrowthPoint(_utc(built_at), int(customers), int(new_ids), retired))
        previous = int(customers)
    points = points[-GROWTH_BUILDS:]
    golden_rows = (
        con.execute("select count(*) from marts.golden_customers").fetchone()[0]
        if _has_table(con, "marts", "golden_customers")
        else 0
    )
    merges = (
        dict(con.execute("select reason, count(*) from marts.customer_merges group by 1 order by 1").fetchall())
        if _has_table(con, "marts", "customer_merges")
        else {}
    )
    return GoldenGrowth(
        points, int(golden_rows), {str(k): int(v) for k, v in merges.items()}, len(builds) - len(points)
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- segments and syncs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentSizes:
    #: segment -> [(when published, members)], oldest first, from the publication history and the current
    #: publication
    published: dict[str, list[tuple[datetime, int]]]
    #: (segment, destination) -> [(when synced, members)], oldest first, from the sync log
    synced: dict[tuple[str, str], list[tuple[datetime, int]]]


def segment_sizes(home: TesseraHome, con, published_at: datetime | None) -> SegmentSizes | Missing:
    from tessera.report.history import SEGMENTS_SCHEMA, publication_history, published_counts

    series: dict[str, dict[datetime, int]] = {}
    for line in publication_history(home):
        at = _utc(datetime.fromisoformat(line["published_at"]))
        for segment, members in (line.get("segments") or {}).items():
            series.setdefault(segment, {})[at] = int(members)
    if con is not None:
        now = published_at or datetime.now(UTC)
        for segment, members in published_counts(con)["segments"].items():
            series.setdefault(segment, {})[_utc(now)] = int(members)
    synced: dict[tuple[str, str], dict[datetime, int]] = {}
    for row in _sync_rows(home):
        if row["status"] == "success" and row["members"] is not None and row["started_at"] is not None:
            synced.setdefault((row["segment"], row["destination"]), {})[_utc(row["started_at"])] = int(row["members"])
    if not series and not synced:
        where = (
            f"the published warehouse has no {SEGMENTS_SCHEMA} schema"
            if con is not None
            else "there is no published warehouse"
        )
        return Missing(f"no segment sizes yet: {where}, and no segment has been synced")
    return SegmentSizes(
        published={s: sorted(points.items()) for s, points in sorted(series.items())},
        synced={pair: sorted(points.items()) for pair, points in sorted(synced.items())},
    )


@dataclass(frozen=True)
class DestinationOutcome:
    destination: str
    #: segments synced to it
    segments: int
    runs: int
    #: runs per status (success, failed, dry_run; running: a run that never finished)
    statuses: dict[str, int]
    #: changes the destination confirmed, over every run
    added: int
    updated: int
    removed: int
    #: what each segment's newest run left out: refused by the destination, invalid (no usable identifier),
    #: excluded (no consent, suppressed); a later run tries the refused and invalid rows again, so these are
    #: the current state, not sums over runs
    rejected: int
    invalid: int
    excluded: int
    last_status: str
    last_started_at: datetime | None


def _sync_rows(home: TesseraHome) -> list[dict[str, Any]]:
    from tessera.activation.state import sync_log

    return sync_log(home)


def sync_outcomes(home: TesseraHome) -> list[DestinationOutcome] | Missing:
    """Every sync run per destination: statuses and confirmed changes over all runs, and what the newest run
    of each segment left out. Dry runs are counted as runs but sent nothing."""
    rows = _sync_rows(home)
    if not rows:
        return Missing("no segment has been synced to a destination yet: run `tessera sync` or an activation DAG")
    by_destination: dict[str, list[dict[str, Any]]] = {}
    for row in rows:  # newest first
        by_destination.setdefault(row["destination"], []).append(row)
    outcomes = []
    for destination, runs in sorted(by_destination.items()):
        sent = [r for r in runs if r["status"] != "dry_run"]
        newest_per_segment = list({r["segment"]: r for r in reversed(sent)}.values())

        def total(column: str, rows: list[dict[str, Any]]) -> int:
            return sum(int(r[column] or 0) for r in rows)

        outcomes.append(
            DestinationOutcome(
                destination=destination,
                segments=len({r["segment"] for r in runs}),
                runs=len(runs),
                statuses=dict(Counter(r["status"] for r in runs)),
                added=total("added", sent),
                updated=total("updated", sent),
                removed=total("removed", sent),
                rejected=total("rejected", newest_per_segment),
                invalid=total("invalid", newest_per_segment),
                excluded=total("excluded", newest_per_segment),
                last_status=runs[0]["status"],
                last_started_at=_utc(runs[0]["started_at"]) if runs[0]["started_at"] else None,
            )
        )
    return outcomes


# --- predictions ------------------------------------------------------------------------------------------

#: The purchase models a version backtests: the forecast first, then plain BG/NBD as its baseline.
PURCHASE_MODELS = ("pareto_nbd", "bg_nbd")
#: The churn models a version backtests: the classifier, or the purchase model's own churn probability while
#: the history is too short to train one.
CHURN_MODELS = ("churn_classifier", "churn_from_purchase_model")
RISK_BANDS = ("low", "medium", "high")


@dataclass(frozen=True)
class PredictionScores:
    """What the build scored: counts and sums over every buyer, never a row about one."""

    #: the versions that scored the rows (one, unless the table was assembled from two builds)
    versions: list[str]
    as_of: datetime | None
    buyers: int
    #: buyers per churn risk band, every band listed
    risk_bands: dict[str, int]
    expected_orders_90d: float
    predicted_clv_365d: float


@dataclass(frozen=True)
class PurchaseBacktestSummary:
    """A purchase model fitted one window before the version's cut-off, against what was then bought."""

    model: str
    customers: int
    predicted_total: float
    actual_total: int
    #: (predicted - actual) / actual; None when nothing was bought in the window
    relative_error: float | None
    mae: float | None
    #: (decile, predicted orders, actual orders); decile 1 holds the highest predictions
    deciles: list[tuple[int, float, int]]


@dataclass(frozen=True)
class ChurnBacktestSummary:
    """The churn probability scored on a moment the model was not trained on."""

    model: str
    scored_as_of: str | None
    customers: int
    churn_rate: float | None
    auc: float | None
    brier: float | None
    brier_of_base_rate: float | None
    #: (group, mean predicted, observed churn rate); group 1 holds the lowest predictions
    calibration: list[tuple[int, float, float]]


@dataclass(frozen=True)
class VersionBacktest:
    """One version's headline backtest figures, for the trend across versions."""

    version: str
    as_of: str
    trained_at: str
    churn_model: str | None
    auc: float | None
    brier: float | None
    purchase_model: str | None
    relative_error: float | None
    mae: float | None


@dataclass(frozen=True)
class Predictions:
    #: the current version: named by `predictions/current.json`, else the version that scored the rows
    version: str | None
    #: the moment the current version was trained as of (`current.json`, else its backtest rows)
    trained_as_of: str | None
    #: why a backtest or the classifier is missing, from `current.json`
    notes: list[str]
    scores: PredictionScores | Missing
    #: the current version's purchase backtests, the forecast first
    purchases: list[PurchaseBacktestSummary] | Missing
    churn: ChurnBacktestSummary | Missing
    #: every version with a backtest, oldest first
    versions: list[VersionBacktest] | Missing


def current_predictors(home: TesseraHome) -> dict[str, Any] | None:
    """The entry `predictions/current.json` holds (version, as_of, notes …), or None when no version was
    trained or the file cannot be read."""
    from transforms.model_versions import ModelVersions

    path = ModelVersions(home.predictions).current_path
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return entry if isinstance(entry, dict) else None


def prediction_scores(con) -> PredictionScores | Missing:
    if not _has_table(con, "marts", "customer_predictions"):
        return Missing(
            "the published warehouse has no marts.customer_predictions (built on DuckDB, by builds that score "
            "predictions): run `tessera transform`"
        )
    buyers, as_of, orders, clv = con.execute(
        "select count(*), max(as_of), coalesce(sum(expected_orders_90d), 0), coalesce(sum(predicted_clv_365d), 0)"
        " from marts.customer_predictions"
    ).fetchone()
    if not buyers:
        return Missing(
            "marts.customer_predictions is empty: the history is too short to train the predictors, "
            "or no customer has bought yet"
        )
    bands = dict(con.execute("select churn_risk, count(*) from marts.customer_predictions group by 1").fetchall())
    versions = [
        str(v)
        for (v,) in con.execute(
            "select distinct model_version from marts.customer_predictions where model_version is not null order by 1"
        ).fetchall()
    ]
    return PredictionScores(
        versions=versions,
        as_of=_utc(as_of) if isinstance(as_of, datetime) else None,
        buyers=int(buyers),
        risk_bands={band: int(bands.get(band, 0)) for band in RISK_BANDS},
        expected_orders_90d=float(orders),
        predicted_clv_365d=float(clv),
    )


def _backtest_metrics(con) -> dict[tuple[str, str], dict[str, Any]]:
    """(version, model) -> its metrics: `metric` -> value, or for grouped metrics `metric` -> {group: value};
    plus `as_of`, `trained_at` and `backtest_as_of` as text."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for version, as_of, trained_at, model, scored, metric, group, value in con.execute(
        """
        select model_version, as_of::varchar, trained_at::varchar, model, backtest_as_of::varchar, metric,
            group_number, value
        from marts.model_backtests
        order by model_version, model, metric, group_number
        """
    ).fetchall():
        facts = out.setdefault(
            (str(version), str(model)),
            {"as_of": str(as_of or ""), "trained_at": str(trained_at or ""), "backtest_as_of": scored},
        )
        value = None if value is None or value != value else float(value)  # NaN: no value
        if group is None or group != group:
            facts[metric] = value
        else:
            facts.setdefault(metric, {})[int(group)] = value
    return out


def _purchase_backtest(model: str, facts: dict[str, Any]) -> PurchaseBacktestSummary:
    predicted, actual = facts.get("decile_predicted") or {}, facts.get("decile_actual") or {}
    return PurchaseBacktestSummary(
        model=model,
        customers=int(facts.get("customers") or 0),
        predicted_total=float(facts.get("predicted_total") or 0.0),
        actual_total=round(facts.get("actual_total") or 0),
        relative_error=facts.get("relative_error"),
        mae=facts.get("mae"),
        deciles=[(g, float(predicted[g] or 0.0), round(actual.get(g) or 0)) for g in sorted(predicted)],
    )


def _churn_backtest(model: str, facts: dict[str, Any]) -> ChurnBacktestSummary:
    predicted, observed = facts.get("calibration_predicted") or {}, facts.get("calibration_observed") or {}
    return ChurnBacktestSummary(
        model=model,
        scored_as_of=facts.get("backtest_as_of"),
        customers=int(facts.get("customers") or 0),
        churn_rate=facts.get("churn_rate"),
        auc=facts.get("auc"),
        brier=facts.get("brier"),
        brier_of_base_rate=facts.get("brier_of_base_rate"),
        calibration=[
            (g, float(predicted[g]), float(observed[g]))
            for g in sorted(predicted)
            if predicted[g] is not None and observed.get(g) is not None
        ],
    )


def _first(models: tuple[str, ...], version: str, metrics: dict[tuple[str, str], dict[str, Any]]) -> str | None:
    return next((m for m in models if (version, m) in metrics), None)


def prediction_facts(home: TesseraHome, con) -> Predictions:
    """The current version's scores and backtests, and every version's headline backtest figures. Each part
    is `Missing` on its own: an older home has no prediction tables, a young one has predictions but no
    backtest (its history is shorter than the window a backtest holds out)."""
    entry = current_predictors(home) or {}
    notes = [str(note) for note in entry.get("notes") or []]
    scores = prediction_scores(con)
    version = entry.get("version") or (scores.versions[-1] if isinstance(scores, PredictionScores) else None)
    if version and isinstance(scores, PredictionScores) and scores.versions and version not in scores.versions:
        notes.append(
            f"{version} is trained but has not scored yet: the published predictions are "
            f"{', '.join(scores.versions)}'s, and the next build scores with {version}"
        )
    if not _has_table(con, "marts", "model_backtests"):
        missing = Missing(
            "the published warehouse has no marts.model_backtests (built on DuckDB, by builds that score predictions)"
        )
        return Predictions(version, entry.get("as_of"), notes, scores, missing, missing, missing)
    metrics = _backtest_metrics(con)
    known = sorted({v for v, _ in metrics})
    if version is None and known:
        version = known[-1]
    if version is None:
        missing = Missing("no version of the predictors has been trained yet: run `tessera train-predictors`")
        return Predictions(None, None, notes, scores, missing, missing, missing)
    trained_as_of = entry.get("as_of") or next((f["as_of"] for (v, _), f in metrics.items() if v == version), None)
    purchases: list[PurchaseBacktestSummary] | Missing = [
        _purchase_backtest(m, metrics[(version, m)]) for m in PURCHASE_MODELS if (version, m) in metrics
    ] or Missing(f"version {version} has no purchase backtest (its history holds no window to hold out)")
    churn_model = _first(CHURN_MODELS, version, metrics)
    churn: ChurnBacktestSummary | Missing = (
        _churn_backtest(churn_model, metrics[(version, churn_model)])
        if churn_model
        else Missing(f"version {version} has no churn backtest (its history holds no window to hold out)")
    )
    trend = []
    for v in known:
        churn_of, purchase_of = _first(CHURN_MODELS, v, metrics), _first(PURCHASE_MODELS, v, metrics)
        any_facts = metrics[(v, churn_of or purchase_of)] if churn_of or purchase_of else {}
        churn_facts = metrics.get((v, churn_of), {}) if churn_of else {}
        purchase_facts = metrics.get((v, purchase_of), {}) if purchase_of else {}
        trend.append(
            VersionBacktest(
                version=v,
                as_of=any_facts.get("as_of", ""),
                trained_at=any_facts.get("trained_at", ""),
                churn_model=churn_of,
                auc=churn_facts.get("auc"),
                brier=churn_facts.get("brier"),
                purchase_model=purchase_of,
                relative_error=purchase_facts.get("relative_error"),
                mae=purchase_facts.get("mae"),
            )
        )
    versions: list[VersionBacktest] | Missing = trend or Missing("no version has a backtest yet")
    return Predictions(version, trained_as_of, notes, scores, purchases, churn, versions)


# --- data quality -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamQuality:
    stream: str
    #: batches per state: checked, held, released, pending, writing
    states: dict[str, int]
    #: warnings recorded in the checked batches' markers
    warnings: int


@dataclass(frozen=True)
class HeldSummary:
    stream: str
    batch_id: str
    held_at: str
    #: what failed, without the failing values: `expectation on column: observed`
    failures: list[str]


@dataclass(frozen=True)
class MartVerdict:
    suite: str
    success: bool
    failed_expectations: int
    expectations: int
    validated_at: str
    #: the validation's page in the Data Docs, when rendered
    page: Path | None


@dataclass(frozen=True)
class DataQuality:
    streams: list[StreamQuality]
    held: list[HeldSummary]
    marts: list[MartVerdict]
    data_docs: Path | None


BATCH_STATES = ("checked", "released", "held", "pending", "writing")


def data_quality(home: TesseraHome) -> DataQuality | Missing:
    from connectors.lake import BATCH_PREFIX, CHECKED, batch_ids, batch_state, read_marker, stream_dir
    from connectors.registry import registry
    from tessera.checks import data_docs_index, held_batches

    streams = []
    for contract in registry().streams:
        directory = stream_dir(home.lake, "raw", contract.source, contract.stream)
        states: Counter[str] = Counter()
        warnings = 0
        for batch_id in batch_ids(directory):
            folder = directory / f"{BATCH_PREFIX}{batch_id}"
            state = batch_state(folder)
            states[state] += 1
            if state == "checked":
                warnings += len((read_marker(folder, CHECKED) or {}).get("warnings") or [])
        if states:
            streams.append(StreamQuality(contract.name, {s: states.get(s, 0) for s in BATCH_STATES}, warnings))
    held = [
        HeldSummary(
            batch.stream,
            batch.batch_id,
            batch.held_at,
            [f"{f.expectation_type}{f' on {f.column}' if f.column else ''}: {f.observed}" for f in batch.failures],
        )
        for batch in held_batches(home)
    ]
    marts = mart_verdicts(home)
    docs = data_docs_index(home)
    if not streams and not marts:
        return Missing("no batch has landed and no check has run yet: run the extract DAGs or `tessera check`")
    return DataQuality(streams, held, marts, docs if docs.exists() else None)


def mart_verdicts(home: TesseraHome) -> list[MartVerdict]:
    """The newest stored validation of each mart and segment suite (GX's JSON results under the home)."""
    from tessera.checks import checks_dir

    root = checks_dir(home) / "validations"
    newest: dict[str, tuple[str, Path, dict[str, Any]]] = {}
    # <suite as folders>/warehouse/<run time>/<batch>.json: the mart checks run under the run name `warehouse`
    for path in sorted(root.glob("*/*/warehouse/*/*.json")) if root.exists() else []:
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        suite = str(document.get("suite_name") or ".".join(path.relative_to(root).parts[:2]))
        meta = document.get("meta") or {}
        when = str(meta.get("validation_time") or (meta.get("run_id") or {}).get("run_time") or "")
        if suite not in newest or when > newest[suite][0]:
            newest[suite] = (when, path, document)
    verdicts = []
    docs_root = checks_dir(home) / "data_docs" / "validations"
    for suite, (when, path, document) in sorted(newest.items()):
        stats = document.get("statistics") or {}
        page = docs_root / path.relative_to(root).with_suffix(".html")
        verdicts.append(
            MartVerdict(
                suite=suite,
                success=bool(document.get("success")),
                failed_expectations=int(stats.get("unsuccessful_expectations") or 0),
                expectations=int(stats.get("evaluated_expectations") or 0),
                validated_at=when,
                page=page if page.exists() else None,
            )
        )
    return verdicts


# --- everything -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportData:
    home: TesseraHome
    generated_at: datetime
    lake: LakeVolume | Missing
    publication: Publication | Missing
    clusters: ClusterSizes | Missing
    coverage: SourceCoverage | Missing
    matches: MatchPairs | Missing
    growth: GoldenGrowth | Missing
    segments: SegmentSizes | Missing
    syncs: list[DestinationOutcome] | Missing
    quality: DataQuality | Missing
    predictions: Predictions | Missing


def gather_report(home: TesseraHome, now: datetime | None = None) -> ReportData:
    """Every section's figures, read once: the published warehouse through one read-only connection."""
    from tessera.warehouse import connect

    published = publication(home)
    warehouse_sections: dict[str, Any]
    if isinstance(published, Missing):
        warehouse_sections = dict.fromkeys(("clusters", "coverage", "matches", "growth", "predictions"), published)
        segments = segment_sizes(home, None, None)
    else:
        with connect(home) as con:
            warehouse_sections = {
                "clusters": cluster_sizes(con),
                "coverage": source_coverage(con),
                "matches": match_pairs(con),
                "growth": golden_growth(con),
                "predictions": prediction_facts(home, con),
            }
            segments = segment_sizes(home, con, published.published_at)
    return ReportData(
        home=home,
        generated_at=now or datetime.now(UTC),
        lake=lake_volume(home),
        publication=published,
        segments=segments,
        syncs=sync_outcomes(home),
        quality=data_quality(home),
        **warehouse_sections,
    )
