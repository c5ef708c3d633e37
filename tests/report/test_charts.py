"""Charts are SVG elements fit for inlining in an HTML page: no prolog, no namespace or metadata addresses,
an accessible title, and the figures drawn as text."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import pytest

from tessera.report import charts

pytestmark = pytest.mark.unit


def test_a_bar_chart_is_an_inline_svg_with_its_labels_as_text():
    chart = charts.bars(["crm", "email"], {"rows": [1200, 30]}, "Rows <landed> & counted", annotate=True)
    svg = chart.svg

    assert chart.title == "Rows <landed> & counted"
    assert svg.startswith('<svg role="img" class="chart"')
    assert svg.rstrip().endswith("</svg>")
    assert "<title>Rows &lt;landed&gt; &amp; counted</title>" in svg
    assert "http" not in svg and "<?xml" not in svg and "DOCTYPE" not in svg and "<metadata" not in svg
    assert "viewBox" in svg and ' width="' not in svg.split(">", 1)[0]
    assert ">crm<" in svg and ">1,200<" in svg  # tick label and bar label, as text


def test_two_charts_on_one_page_share_no_ids():
    import re

    first = charts.bars(["a"], {"n": [1]}, "one").svg
    second = charts.bars(["a"], {"n": [1]}, "two").svg

    defined = [set(re.findall(r'<(?:clipPath|path)[^>]* id="([^"]+)"', svg)) for svg in (first, second)]
    assert defined[0] and defined[1] and not defined[0] & defined[1]


def test_a_time_series_of_one_moment_draws_without_a_warning():
    moment = datetime(2026, 1, 3, 6, tzinfo=UTC)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = charts.lines({"vips": [(moment, 51)], "buyers": [(moment, 247)]}, "Segment members").svg
    assert ">2026-01-03 06:00<" in svg
