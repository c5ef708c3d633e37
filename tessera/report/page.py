"""The run report as one HTML page: sections built from the gathered figures, rendered by the template,
written as `reports/report-<time>.html` and copied to `reports/latest.html`.

The page is self-contained (styles and SVG charts inline, no script), so it opens offline, from a mail
attachment or a CI artefact alike. Its only links are relative ones to the home's Data Docs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tessera.home import TesseraHome
from tessera.report import charts
from tessera.report.gather import (
    ClusterSizes,
    DataQuality,
    DestinationOutcome,
    GoldenGrowth,
    LakeVolume,
    MatchPairs,
    Missing,
    Predictions,
    PredictionScores,
    Publication,
    ReportData,
    SegmentSizes,
    SourceCoverage,
    gather_report,
)
from tessera.report.history import reports_dir

TEMPLATE = "report.html.j2"
LATEST = "latest.html"


@dataclass(frozen=True)
class Link:
    text: str
    href: str


@dataclass(frozen=True)
class Table:
    caption: str
    columns: list[str]
    rows: list[list[str | Link]]
    #: indexes of the columns that hold numbers (right-aligned)
    numeric: frozenset[int] = frozenset()


@dataclass
class Section:
    anchor: str
    title: str
    intro: str
    missing: list[str] = field(default_factory=list)
    #: what the figures' producer said about them (why a part is missing, which model stood in)
    notes: list[str] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    charts: list[charts.Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)


def _n(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


def _relative(target: Path, home: TesseraHome) -> str:
    return Path(os.path.relpath(target, reports_dir(home))).as_posix()


def lake_section(lake: LakeVolume | Missing) -> Section:
    section = Section(
        "lake",
        "Collected: volume per source and day",
        "Rows landed in the lake per source, by the "
        "day each batch's interval starts, and the share of records refused into quarantine.",
    )
    if isinstance(lake, Missing):
        section.missing.append(lake.reason)
        return section
    days = sorted({d.day for d in lake.days})
    by = {(d.source, d.day): d for d in lake.days}
    section.facts += [
        ("rows landed", _n(lake.landed)),
        ("rows quarantined", _n(lake.quarantined)),
        ("quarantine rate", _pct(lake.quarantined, lake.landed + lake.quarantined)),
        ("days", _n(len(days))),
    ]
    if days:
        section.charts.append(
            charts.bars(
                days,
                {s: [by[(s, day)].landed if (s, day) in by else 0 for day in days] for s in lake.sources},
                "Rows landed per day, by source",
                ylabel="rows landed",
            )
        )
        section.charts.append(
            charts.lines(
                {s: [(day, by[(s, day)].quarantine_rate) for day in days if (s, day) in by] for s in lake.sources},
                "Quarantine rate per day, by source",
                ylabel="records quarantined",
                percent=True,
            )
        )
    rows = []
    for source in lake.sources:
        landed = sum(d.landed for d in lake.days if d.source == source)
        quarantined = sum(d.quarantined for d in lake.days if d.source == source)
        rows.append([source, _n(landed), _n(quarantined), _pct(quarantined, landed + quarantined)])
    section.tables.append(
        Table("Per source", ["source", "rows landed", "quarantined", "quarantine rate"], rows, frozenset({1, 2, 3}))
    )
    return section


def customers_section(clusters: ClusterSizes | Missing, coverage: SourceCoverage | Missing) -> Section:
    section = Section(
        "customers",
        "Unified: records and sources per customer",
        "How many source records make "
        "up each golden customer, how large the identity clusters (the profile records: CRM "
        "contacts, ESP subscribers, loyalty members) are, and in how many sources each customer "
        "is seen.",
    )
    if isinstance(clusters, Missing):
        section.missing.append(clusters.reason)
    else:
        section.facts += [
            ("golden customers", _n(clusters.customers)),
            ("source records attributed", _n(clusters.records)),
            ("records per customer: mean", _n(clusters.records / clusters.customers)),
            ("median", _n(clusters.median_records)),
            ("largest", _n(clusters.max_records)),
            ("largest identity cluster (profile records)", _n(clusters.largest_cluster)),
        ]
        section.charts.append(
            charts.bars(
                [label for label, _ in clusters.records_per_customer],
                {"customers": [n for _, n in clusters.records_per_customer]},
                "Customers by number of source records",
                ylabel="customers",
                annotate=True,
            )
        )
        section.charts.append(
            charts.bars(
                [label for label, _ in clusters.cluster_sizes],
                {"customers": [n for _, n in clusters.cluster_sizes]},
                "Identity cluster sizes: profile records per customer",
                ylabel="customers",
                annotate=True,
            )
        )
    if isinstance(coverage, Missing):
        if not isinstance(clusters, Missing) or coverage.reason != clusters.reason:
            section.missing.append(coverage.reason)
        return section
    counts = sorted(coverage.by_source_count)
    section.charts.append(
        charts.bars(
            [f"{n} source{'s' if n > 1 else ''}" for n in counts],
            {"customers": [coverage.by_source_count[n] for n in counts]},
            "Customers seen in 1, 2, 3 or 4 sources",
            ylabel="customers",
            annotate=True,
        )
    )
    section.tables.append(
        Table(
            "Customers by number of sources",
            ["sources", "customers", "share"],
            [
                [str(n), _n(coverage.by_source_count[n]), _pct(coverage.by_source_count[n], coverage.customers)]
                for n in counts
            ],
            frozenset({1, 2}),
        )
    )
    section.tables.append(
        Table(
            "Customers by combination of sources",
            ["sources", "customers", "share"],
            [[combo, _n(n), _pct(n, coverage.customers)] for combo, n in coverage.by_combination],
            frozenset({1, 2}),
        )
    )
    return section


def matching_section(matches: MatchPairs | Missing) -> Section:
    section = Section(
        "matching",
        "Identity resolution: links by rule and match probability",
        "Every identity "
        "edge (a record carrying an identifier, or a probabilistic match to another record) by "
        "its identity rule and what stitching decided; the probabilistic pairs by match "
        "probability band and by the comparisons that agreed exactly.",
    )
    if isinstance(matches, Missing):
        section.missing.append(matches.reason)
        return section
    kinds = sorted({kind for kind, _, _ in matches.edges_by_rule})
    decisions = [
        d
        for d in ("stitched", "shared", "over_limit", "blocked")
        if any(dec == d for _, dec, _ in matches.edges_by_rule)
    ]
    decisions += sorted({dec for _, dec, _ in matches.edges_by_rule} - set(decisions))
    count = {(kind, dec): n for kind, dec, n in matches.edges_by_rule}
    labels = [kind if kind != "record" else "record (probabilistic match)" for kind in kinds]
    section.facts.append(("identity edges", _n(sum(n for _, _, n in matches.edges_by_rule))))
    section.facts.append(("stitched", _n(sum(n for _, d, n in matches.edges_by_rule if d == "stitched"))))
    section.charts.append(
        charts.bars(
            labels,
            {dec: [count.get((kind, dec), 0) for kind in kinds] for dec in decisions},
            "Identity edges by rule and stitching decision",
            ylabel="edges",
            horizontal=True,
            legend=True,
        )
    )
    section.tables.append(
        Table(
            "Identity edges by rule",
            ["rule (identifier type)", *decisions, "total"],
            [
                [
                    label,
                    *(_n(count.get((kind, d), 0)) for d in decisions),
                    _n(sum(count.get((kind, d), 0) for d in decisions)),
                ]
                for kind, label in zip(kinds, labels, strict=True)
            ],
            frozenset(range(1, len(decisions) + 2)),
        )
    )
    if matches.pairs_by_band is None:
        section.missing.append("probabilistic matching is off in this warehouse (no int_identity_edges__probabilistic)")
        return section
    section.facts.append(("probabilistic match pairs", _n(matches.probabilistic_pairs)))
    section.charts.append(
        charts.bars(
            [band for band, _ in matches.pairs_by_band],
            {"pairs": [n for _, n in matches.pairs_by_band]},
            "Probabilistic match pairs by match probability",
            ylabel="pairs",
            annotate=True,
        )
    )
    if matches.pairs_by_evidence:
        section.tables.append(
            Table(
                "Probabilistic pairs by the comparisons that agreed exactly",
                ["agreeing comparisons", "pairs", "share"],
                [[pattern, _n(n), _pct(n, matches.probabilistic_pairs)] for pattern, n in matches.pairs_by_evidence],
                frozenset({1, 2}),
            )
        )
    return section


def growth_section(growth: GoldenGrowth | Missing) -> Section:
    section = Section(
        "growth",
        "Growth of the golden table",
        "Customers after each build, from the stable "
        "customer-id history (`int_customer_id_history`): new ids, and ids retired by merges and "
        "splits.",
    )
    if isinstance(growth, Missing):
        section.missing.append(growth.reason)
        return section
    last = growth.points[-1]
    section.facts += [
        ("golden customers now", _n(growth.golden_rows)),
        ("builds that changed customer ids", _n(len(growth.points) + growth.earlier_builds)),
        *((f"{reason}s (customer_merges)", _n(n)) for reason, n in growth.merges.items()),
    ]
    section.charts.append(
        charts.lines(
            {"customers": [(p.built_at, p.customers) for p in growth.points]},
            "Golden customers after each build",
            ylabel="customers",
            step=True,
            zero=False,
        )
    )
    section.tables.append(
        Table(
            "Builds" + (f" (the newest {len(growth.points)})" if growth.earlier_builds else ""),
            ["build", "customers", "new ids", "ids retired"],
            [[_when(p.built_at), _n(p.customers), _n(p.new_ids), _n(p.retired_ids)] for p in reversed(growth.points)],
            frozenset({1, 2, 3}),
        )
    )
    if last.customers != growth.golden_rows:
        section.missing.append(
            f"the newest build's {last.customers:,} customers differ from the {growth.golden_rows:,} rows of "
            "marts.golden_customers: the history and the marts come from different builds"
        )
    return section


def activation_section(segments: SegmentSizes | Missing, syncs: list[DestinationOutcome] | Missing) -> Section:
    section = Section(
        "activation",
        "Segments and syncs",
        "Segment sizes at each publication, members each "
        "destination holds after each sync, and the outcome of every sync run per destination.",
    )
    if isinstance(segments, Missing):
        section.missing.append(segments.reason)
    else:
        if segments.published:
            section.charts.append(
                charts.lines(
                    {s: points for s, points in segments.published.items()},
                    "Segment members at each publication",
                    ylabel="members",
                )
            )
            section.tables.append(
                Table(
                    "Segments in the published warehouse",
                    ["segment", "members now", "publications recorded"],
                    [[s, _n(points[-1][1]), _n(len(points))] for s, points in segments.published.items()],
                    frozenset({1, 2}),
                )
            )
        if segments.synced:
            section.charts.append(
                charts.lines(
                    {f"{s} → {d}": points for (s, d), points in segments.synced.items()},
                    "Members held by each destination after each successful sync",
                    ylabel="members",
                )
            )
    if isinstance(syncs, Missing):
        section.missing.append(syncs.reason)
        return section
    statuses = [s for s in ("success", "failed", "running", "dry_run") if any(o.statuses.get(s) for o in syncs)]
    statuses += sorted({s for o in syncs for s in o.statuses} - set(statuses))
    section.charts.append(
        charts.bars(
            [o.destination for o in syncs],
            {status: [o.statuses.get(status, 0) for o in syncs] for status in statuses},
            "Sync runs per destination, by outcome",
            ylabel="runs",
            horizontal=True,
            legend=True,
        )
    )
    changes = ("added", "updated", "removed")
    section.charts.append(
        charts.bars(
            [o.destination for o in syncs],
            {kind: [getattr(o, kind) for o in syncs] for kind in changes},
            "Changes each destination confirmed (all runs)",
            ylabel="rows",
            horizontal=True,
            legend=True,
        )
    )
    left_out = ("rejected", "invalid", "excluded")
    section.tables.append(
        Table(
            "Sync runs per destination (rejected, invalid and excluded: as the newest run of each segment left them)",
            ["destination", "segments", "runs", "by outcome", *changes, *left_out, "last run", "last outcome"],
            [
                [
                    o.destination,
                    _n(o.segments),
                    _n(o.runs),
                    ", ".join(f"{s} {n}" for s, n in sorted(o.statuses.items())),
                    *(_n(getattr(o, kind)) for kind in (*changes, *left_out)),
                    _when(o.last_started_at),
                    o.last_status,
                ]
                for o in syncs
            ],
            frozenset({1, 2, *range(4, 4 + len(changes) + len(left_out))}),
        )
    )
    return section


def quality_section(quality: DataQuality | Missing, home: TesseraHome) -> Section:
    section = Section(
        "quality",
        "Data quality",
        "The verdicts of the Great Expectations checks: landed batches "
        "per state (a held batch is not read until it is landed again or released), and the newest "
        "check of each mart and segment. Details, with every expectation, are in the Data Docs.",
    )
    if isinstance(quality, Missing):
        section.missing.append(quality.reason)
        return section
    if quality.data_docs is not None:
        section.links.append(Link("Data Docs (every suite and validation)", _relative(quality.data_docs, home)))
    else:
        section.missing.append("the Data Docs have not been rendered yet (they are, with the next check)")
    from tessera.report.gather import BATCH_STATES

    if quality.streams:
        states = [s for s in BATCH_STATES if any(q.states.get(s) for q in quality.streams)]
        section.facts += [(f"batches {s}", _n(sum(q.states.get(s, 0) for q in quality.streams))) for s in states]
        section.charts.append(
            charts.bars(
                [q.stream for q in quality.streams],
                {s: [q.states.get(s, 0) for q in quality.streams] for s in states},
                "Landed batches by check verdict",
                ylabel="batches",
                horizontal=True,
                legend=True,
            )
        )
        section.tables.append(
            Table(
                "Landed batches per stream",
                ["stream", *states, "warnings in checked batches"],
                [[q.stream, *(_n(q.states.get(s, 0)) for s in states), _n(q.warnings)] for q in quality.streams],
                frozenset(range(1, len(states) + 2)),
            )
        )
    section.tables.append(
        Table(
            "Held batches",
            ["stream", "batch", "held since", "what failed"],
            [[h.stream, h.batch_id, h.held_at, "; ".join(h.failures) or "(no failure recorded)"] for h in quality.held]
            or [["none", "", "", ""]],
        )
    )
    if quality.marts:
        section.tables.append(
            Table(
                "Newest check of each mart and segment",
                ["suite", "verdict", "failed expectations", "expectations", "checked at", "details"],
                [
                    [
                        m.suite,
                        "passed" if m.success else "failed",
                        _n(m.failed_expectations),
                        _n(m.expectations),
                        m.validated_at[:19].replace("T", " "),
                        Link("Data Docs", _relative(m.page, home)) if m.page else "–",
                    ]
                    for m in quality.marts
                ],
                frozenset({2, 3}),
            )
        )
    else:
        section.missing.append("the marts have not been checked yet")
    return section


#: How the predictions section says a part has no data yet.
NOT_YET = "not available yet: "
#: The colours of predicted and actual orders, per purchase model (dark: predicted, light: actual).
BACKTEST_COLOURS = {"pareto_nbd": ("#0072B2", "#56B4E9"), "bg_nbd": ("#D55E00", "#E69F00")}


def _score(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _signed_pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1%}"


def predictions_section(predictions: Predictions | Missing) -> Section:
    section = Section(
        "predictions",
        "Predictions",
        "What the current version of the predictors says about every buyer (churn risk, orders and "
        "lifetime value ahead), and how each version did on a window it was not trained on: predicted "
        "against actual orders by decile, and how well the churn probability matched who churned.",
    )
    if isinstance(predictions, Missing):
        section.missing.append(NOT_YET + predictions.reason)
        return section
    section.notes += predictions.notes
    if predictions.version:
        section.facts.append(("version", predictions.version))
    if predictions.trained_as_of:
        section.facts.append(("trained as of", predictions.trained_as_of[:10]))
    scores = predictions.scores
    if isinstance(scores, PredictionScores):
        if scores.as_of:
            section.facts.append(("scored as of", scores.as_of.strftime("%Y-%m-%d")))
        section.facts += [
            ("buyers scored", _n(scores.buyers)),
            *((f"{band} churn risk", _n(n)) for band, n in scores.risk_bands.items()),
            ("predicted orders, next 90 days", _n(scores.expected_orders_90d)),
            ("predicted 365-day CLV, all buyers", _n(scores.predicted_clv_365d)),
        ]
    else:
        section.missing.append(NOT_YET + scores.reason)
    purchases = predictions.purchases
    if isinstance(purchases, Missing):
        section.missing.append(NOT_YET + purchases.reason)
    else:
        deciles = sorted({d for p in purchases for d, _, _ in p.deciles})
        series: dict[str, list[float]] = {}
        colours: dict[str, str] = {}
        for p in purchases:
            by_decile = {d: (predicted, actual) for d, predicted, actual in p.deciles}
            dark, light = BACKTEST_COLOURS.get(p.model, ("#0072B2", "#56B4E9"))
            role = "" if p is purchases[0] else " (baseline)"
            for i, (kind, colour) in enumerate((("predicted", dark), ("actual", light))):
                name = f"{p.model}{role}: {kind}"
                series[name] = [by_decile.get(d, (0.0, 0.0))[i] for d in deciles]
                colours[name] = colour
        totals = "; ".join(
            f"{p.model}: {_n(p.predicted_total)} predicted, {_n(p.actual_total)} actual, "
            f"relative error {_signed_pct(p.relative_error)}, MAE {_score(p.mae, 2)}"
            for p in purchases
        )
        if deciles:
            section.charts.append(
                charts.bars(
                    [str(d) for d in deciles],
                    series,
                    f"Predicted vs actual orders in the backtest window, by decile of prediction (1 = highest). "
                    f"{totals}",
                    ylabel="orders",
                    stacked=False,
                    colours=colours,
                )
            )
        else:
            section.missing.append(NOT_YET + f"the purchase backtest has no deciles ({totals})")
    churn = predictions.churn
    if isinstance(churn, Missing):
        section.missing.append(NOT_YET + churn.reason)
    elif not churn.calibration:
        section.missing.append(NOT_YET + f"the churn backtest ({churn.model}) has no calibration groups")
    else:
        scored = f", scored as of {churn.scored_as_of[:10]}" if churn.scored_as_of else ""
        section.charts.append(
            charts.calibration(
                {churn.model: [(predicted, observed) for _, predicted, observed in churn.calibration]},
                f"Churn calibration: mean predicted vs observed churn per group of prediction ({churn.model}, "
                f"{_n(churn.customers)} customers{scored}). AUC {_score(churn.auc)}, Brier {_score(churn.brier)} "
                f"(predicting the base rate: {_score(churn.brier_of_base_rate)})",
                xlabel="predicted churn probability",
                ylabel="observed churn rate",
            )
        )
    versions = predictions.versions
    if isinstance(versions, Missing):
        section.missing.append(NOT_YET + versions.reason)
        return section
    trend = {
        "churn AUC": [(v.version, v.auc) for v in versions if v.auc is not None],
        "purchase forecast relative error": [
            (v.version, v.relative_error) for v in versions if v.relative_error is not None
        ],
    }
    trend = {name: points for name, points in trend.items() if points}
    if len(versions) < 2:
        section.missing.append(
            NOT_YET + f"one version so far ({versions[0].version}): the trend across versions needs two"
        )
    elif not trend:
        section.missing.append(NOT_YET + "no version has an AUC or a relative error to compare")
    else:
        section.charts.append(
            charts.lines(
                trend,
                "Backtests across versions: churn AUC and the purchase forecast's relative error "
                "(predicted − actual) ÷ actual orders",
                ylabel="AUC · relative error",
                zero=False,
                decimals=2,
            )
        )
    section.tables.append(
        Table(
            "Backtests per version",
            ["version", "trained as of", "churn model", "AUC", "Brier", "purchase model", "relative error", "MAE"],
            [
                [
                    v.version,
                    v.as_of[:10] or "–",
                    v.churn_model or "–",
                    _score(v.auc),
                    _score(v.brier),
                    v.purchase_model or "–",
                    _signed_pct(v.relative_error),
                    _score(v.mae, 2),
                ]
                for v in reversed(versions)
            ],
            frozenset({3, 4, 6, 7}),
        )
    )
    return section


def build_sections(data: ReportData) -> list[Section]:
    return [
        lake_section(data.lake),
        customers_section(data.clusters, data.coverage),
        matching_section(data.matches),
        growth_section(data.growth),
        predictions_section(data.predictions),
        activation_section(data.segments, data.syncs),
        quality_section(data.quality, data.home),
    ]


def render_report(data: ReportData) -> str:
    """The report's HTML."""
    from importlib.resources import files

    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    template = environment.from_string(files("tessera.report").joinpath(TEMPLATE).read_text(encoding="utf-8"))
    published = data.publication
    return template.render(
        generated_at=_when(data.generated_at),
        home=str(data.home.root),
        publication=None if isinstance(published, Missing) else published,
        publication_missing=published.reason if isinstance(published, Missing) else None,
        published_at=_when(published.published_at) if isinstance(published, Publication) else "",
        sections=build_sections(data),
        svg=Markup,  # SVG drawn by charts.py: our own markup, never data
    )


def report_name(generated_at: datetime) -> str:
    return f"report-{generated_at.strftime('%Y%m%dT%H%M%SZ')}.html"


def write_report(home: TesseraHome, now: datetime | None = None) -> Path:
    """Gather, render and write the report; returns the new file (`latest.html` is a copy of it).

    Each file is written under a temporary name and renamed, so a reader never opens half a report."""
    data = gather_report(home, now)
    html = render_report(data)
    folder = reports_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / report_name(data.generated_at)
    for target in (path, folder / LATEST):
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(html, encoding="utf-8")
        os.replace(partial, target)
    return path
