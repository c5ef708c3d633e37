"""A benchmark's table, printed as aligned text at the end of a run and as Markdown in benchmarks/README.md.

The first column is a label (left-aligned); the others are figures (right-aligned).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


#: A column of a table made from records: its title and how one record's cell is written.
Column = tuple[str, Callable[[Any], str]]


def cell(key: str, spec: str = "", missing: str = "n/a") -> Callable[[Mapping[str, Any]], str]:
    """How a column writes a record's figure `key` (a dotted path for a nested one, `lake.rows`): with the
    format `spec` (`,` or `.2f`), or `missing` where the figure is None."""

    def write(record: Mapping[str, Any]) -> str:
        value: Any = record
        for part in key.split("."):
            value = value[part]
        return missing if value is None else format(value, spec)

    return write


def share(key: str) -> Callable[[Mapping[str, Any]], str]:
    """How a column writes a record's share of a whole (`key`) as a percentage."""
    return lambda record: share_cell(record[key])


def table_of(columns: Iterable[Column], records: Iterable[Any]) -> Table:
    """One row per record, one cell per column."""
    columns = tuple(columns)
    return Table(tuple(title for title, _ in columns), tuple(tuple(cell(r) for _, cell in columns) for r in records))


def text_table(table: Table) -> str:
    """The table as aligned text, with a rule under the header."""
    widths = [max(len(cells[i]) for cells in [table.header, *table.rows]) for i in range(len(table.header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = tuple("-" * w for w in widths)
    return "\n".join([line(table.header), line(rule), *(line(cells) for cells in table.rows)])


def markdown_table(table: Table) -> str:
    """The table in GitHub Markdown, figures right-aligned."""

    def line(cells: Iterable[str]) -> str:
        return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"

    rule = "|" + "|".join(["---", *["---:"] * (len(table.header) - 1)]) + "|"
    return "\n".join([line(table.header), rule, *(line(cells) for cells in table.rows)])


def ratio(a: float | None, b: float | None) -> float | None:
    """`a ÷ b`, or None where either is missing or `b` is zero."""
    return a / b if a is not None and b else None


def ratio_cell(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def share_cell(value: float) -> str:
    """A share of a whole, as a percentage: `12.5 %`."""
    return f"{100 * value:.1f} %"


def scaling_exponent(small: float | None, large: float | None, n_small: int, n_large: int) -> float | None:
    """k in `cost ∝ n^k` between two scales: `log(large ÷ small) ÷ log(n_large ÷ n_small)`; 1 is linear, 2
    quadratic. None where a cost is missing or zero, or the scales are the same."""
    import math

    if not small or not large or n_small == n_large:
        return None
    return math.log(large / small) / math.log(n_large / n_small)
