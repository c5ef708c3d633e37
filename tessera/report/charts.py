"""The report's charts, drawn with matplotlib as SVG text to inline in the page.

SVG needs no script and no image file: the page stays one file that opens offline, prints, and scales.
Each SVG is trimmed to what an HTML page needs (no XML prolog, no DOCTYPE, no metadata, no namespace
declarations, which HTML5 does not need), so the page names no outside address at all. Text stays text
(`svg.fonttype: none`): small, searchable, and in the page's own font. Figures are built with the
object-oriented `Figure` API, never pyplot, so nothing global is left behind in a long-running process.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

#: One colour per series, in order; colour-blind-safe (Okabe–Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
#: Colours of outcomes, so "good" and "bad" mean the same thing in every chart.
OUTCOME_COLOURS = {
    "stitched": "#009E73",
    "success": "#009E73",
    "checked": "#009E73",
    "added": "#009E73",
    "updated": "#0072B2",
    "removed": "#56B4E9",
    "released": "#E69F00",
    "shared": "#E69F00",
    "excluded": "#E69F00",
    "over_limit": "#CC79A7",
    "invalid": "#CC79A7",
    "blocked": "#D55E00",
    "held": "#D55E00",
    "failed": "#D55E00",
    "rejected": "#D55E00",
    "pending": "#999999",
    "dry_run": "#999999",
    "running": "#BBBBBB",
    "writing": "#BBBBBB",
}
WIDTH, HEIGHT = 6.0, 3.0


@dataclass(frozen=True)
class Chart:
    """A drawn chart: its title (the page's caption) and its `<svg>` element."""

    title: str
    svg: str


_RC = {
    "svg.fonttype": "none",
    "font.size": 9,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#dddddd",
    "axes.axisbelow": True,
    "legend.frameon": False,
}


def _figure(height: float = HEIGHT):
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display: the charts are files
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, height), layout="constrained")


def to_svg(figure, title: str) -> Chart:
    """The figure as an `<svg>` element for an HTML page, with `title` as its accessible name."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(_RC):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # the XML prolog and DOCTYPE belong to an .svg file, not to a page
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    head_end = svg.index(">") + 1
    head = re.sub(r'\s+(xmlns(:\w+)?|width|height)="[^"]*"', "", svg[:head_end])  # the viewBox sizes it
    head = head.replace("<svg", '<svg role="img" class="chart"', 1)
    return Chart(title, f"{head}<title>{_escape(title)}</title>{svg[head_end:]}")


def _label(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _styled(draw):
    """Run a drawing function under the report's matplotlib style (local to the call)."""

    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(_RC):
            return draw(*args, **kwargs)

    wrapper.__doc__, wrapper.__name__ = draw.__doc__, draw.__name__
    return wrapper


def _thousands(axis) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


@_styled
def bars(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    title: str,
    *,
    ylabel: str = "",
    stacked: bool = True,
    horizontal: bool = False,
    colours: dict[str, str] | None = None,
    annotate: bool = False,
    legend: bool | None = None,
) -> Chart:
    """Bars per label, one colour per series (stacked, or side by side); the legend shows when there are
    several series, or when asked (a single outcome, such as "success", still needs naming)."""
    import numpy as np

    figure = _figure(max(HEIGHT, 0.32 * len(labels) + 1) if horizontal else HEIGHT)
    ax = figure.subplots()
    positions = np.arange(len(labels))
    names = list(series)
    width = 0.8 if stacked or len(names) == 1 else 0.8 / len(names)
    bottom = np.zeros(len(labels))
    for i, name in enumerate(names):
        values = np.asarray(series[name], dtype=float)
        colour = (colours or {}).get(name) or OUTCOME_COLOURS.get(name) or PALETTE[i % len(PALETTE)]
        offset = 0 if stacked or len(names) == 1 else (i - (len(names) - 1) / 2) * width
        draw = ax.barh if horizontal else ax.bar
        kwargs = {"left" if horizontal else "bottom": bottom} if stacked else {}
        drawn = draw(positions + offset, values, width, label=name, color=colour, **kwargs)
        if annotate:
            ax.bar_label(drawn, labels=[f"{v:,.0f}" if v else "" for v in values], padding=2, fontsize=8)
        if stacked:
            bottom = bottom + values
    if horizontal:
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        ax.grid(axis="x", color="#dddddd")
        ax.grid(axis="y", visible=False)
        _thousands(ax.xaxis)
        ax.set_xlabel(ylabel)
    else:
        ax.set_xticks(
            positions, labels, rotation=45 if len(labels) > 10 else 0, ha="right" if len(labels) > 10 else "center"
        )
        _thousands(ax.yaxis)
        ax.set_ylabel(ylabel)
    if legend or (legend is None and len(names) > 1):
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return to_svg(figure, title)


@_styled
def lines(
    series: dict[str, Sequence[tuple[datetime | str, float]]],
    title: str,
    *,
    ylabel: str = "",
    percent: bool = False,
    step: bool = False,
    zero: bool = True,
    decimals: int | None = None,
) -> Chart:
    """One line per series over time (or over ordered labels); a series of one point shows as a dot. With
    `zero=False` the axis fits the values, for a small change on a large count (the table gives the numbers);
    with `decimals` the axis shows scores and ratios (an AUC, a relative error) instead of counts."""
    from matplotlib.ticker import PercentFormatter, StrMethodFormatter

    figure = _figure()
    ax = figure.subplots()
    moments = {x for points in series.values() for x, _ in points}
    if len(moments) < 2 and not any(isinstance(x, str) for x in moments):  # no range for a time axis
        series = {name: [(_label(x), y) for x, y in points] for name, points in series.items()}
    categorical = any(isinstance(x, str) for points in series.values() for x, _ in points)
    order = sorted({x for points in series.values() for x, _ in points}) if categorical else []
    for i, (name, points) in enumerate(series.items()):
        xs = [order.index(x) for x, _ in points] if categorical else [x for x, _ in points]
        ys = [y for _, y in points]
        colour = PALETTE[i % len(PALETTE)]
        if step:
            ax.step(xs, ys, where="post", label=name, color=colour, marker="o", markersize=3)
        else:
            ax.plot(xs, ys, label=name, color=colour, marker="o", markersize=3)
    if categorical:
        ax.set_xticks(
            range(len(order)), order, rotation=45 if len(order) > 8 else 0, ha="right" if len(order) > 8 else "center"
        )
    else:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    elif decimals is not None:
        ax.yaxis.set_major_formatter(StrMethodFormatter(f"{{x:.{decimals}f}}"))
    else:
        _thousands(ax.yaxis)
    if zero:
        ax.set_ylim(bottom=0)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return to_svg(figure, title)


@_styled
def calibration(series: dict[str, Sequence[tuple[float, float]]], title: str, *, xlabel: str, ylabel: str) -> Chart:
    """Predicted probability against the observed rate, one point per group of predictions, over the diagonal
    a perfectly calibrated model would lie on; both axes run from 0 to 100 %."""
    from matplotlib.ticker import PercentFormatter

    figure = _figure()
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="perfectly calibrated")
    for i, (name, points) in enumerate(series.items()):
        ax.plot(
            [x for x, _ in points],
            [y for _, y in points],
            label=name,
            color=PALETTE[i % len(PALETTE)],
            marker="o",
            markersize=4,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal", adjustable="box")
    ax.grid(axis="x", color="#dddddd")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return to_svg(figure, title)
