"""What a check found, as small typed objects: the API that Airflow tasks, the CLI and the markers use.

A `CheckResult` is one suite run on one target (a batch folder, a mart). Its failures are split by
severity: any critical failure means it did not pass. Each `Failure` names the suite, the expectation,
the column, what was expected and observed, and a few failing values, masked the way `tessera explain`
masks identifiers, so a message can go to a log, an alert or a marker file without leaking an e-mail
address or phone number.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from connectors.masking import mask_identifier

ARROW_TYPE = "expect_column_to_have_arrow_type"
#: How many failing values a message shows, and how long each value may be (the row's ids are shown whole).
SAMPLES, SAMPLE_CHARS = 5, 60
_NOT_CRITERIA = {"batch_id", "column", "column_list", "result_format", "catch_exceptions", "meta", "mostly"}
_BOUNDED = {
    "expect_column_values_to_be_between": "values",
    "expect_column_mean_to_be_between": "a mean",
    "expect_column_max_to_be_between": "a maximum",
    "expect_column_min_to_be_between": "a minimum",
    "expect_table_row_count_to_be_between": "a row count",
}


class CheckFailed(RuntimeError):
    """A check found a critical failure; the message says which suite, target, expectation and column."""


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold."""

    suite: str
    expectation_type: str
    column: str | None
    severity: str
    observed: str
    sample_values: tuple[str, ...] = ()
    expected: str = ""

    def message(self) -> str:
        on = f" on {self.column}" if self.column else ""
        text = f"{self.suite}: {self.expectation_type}{on} ({self.severity}): expected {self.expected}; observed {self.observed}"
        if self.sample_values:
            text += "; failing values: " + ", ".join(self.sample_values)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sample_values": list(self.sample_values)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Failure:
        return cls(**{**doc, "sample_values": tuple(doc.get("sample_values") or ())})


@dataclass(frozen=True)
class CheckResult:
    """One suite run on one target: a landed batch folder, or a mart in the warehouse."""

    suite: str
    target: str
    passed: bool
    critical: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    batch_id: str | None = None
    #: expectations in the suite that ran, and the target's rows
    expectations: int = 0
    rows: int | None = None
    validated_at: datetime | None = None
    #: the result's page in the home's Data Docs
    docs_page: Path | None = None

    @property
    def name(self) -> str:
        return f"{self.suite} batch {self.batch_id}" if self.batch_id else self.suite

    def message(self) -> str:
        if self.passed and not self.warnings:
            return f"{self.name}: passed ({self.expectations} expectations)"
        counts = [f"{len(self.critical)} critical failure(s)"] if self.critical else []
        counts += [f"{len(self.warnings)} warning(s)"] if self.warnings else []
        verdict = "failed" if not self.passed else "passed with warnings"
        lines = [f"{self.name} {verdict}: {', '.join(counts)} ({self.target})"]
        lines += [f"  - {failure.message()}" for failure in (*self.critical, *self.warnings)]
        if self.batch_id and not self.passed:
            lines.append(
                f"  The batch is held: fix the source and land it again, or, once reviewed, release it with "
                f"`tessera check --release {self.suite} {self.batch_id} --reason '...'`."
            )
        return "\n".join(lines)


def raise_on_critical(results: list[CheckResult]) -> None:
    """Raise `CheckFailed` naming every result with a critical failure (for callers that must fail)."""
    failed = [result for result in results if not result.passed]
    if failed:
        raise CheckFailed("\n".join(result.message() for result in failed))


def failures_of(suite: str, validation: Any, pii: frozenset[str] = frozenset()) -> list[Failure]:
    """The failures of a GX suite validation result, severities from each expectation's `meta`.

    A column that is missing or has the wrong type fails its Arrow-type expectation; the other
    expectations on it that could not even run are left out, as they only repeat that."""
    found: list[tuple[Failure, bool]] = []
    for outcome in validation.results:
        if outcome.success:
            continue
        config, result = outcome.expectation_config, outcome.result or {}
        error = _exception_message(outcome.exception_info)
        found.append((_failure(suite, config, result, error, pii), error is not None))
    broken = {f.column for f, _ in found if f.expectation_type == ARROW_TYPE}
    return [failure for failure, errored in found if not (errored and failure.column in broken)]


def _failure(suite: str, config: Any, result: dict, error: str | None, pii: frozenset[str]) -> Failure:
    kwargs, meta = config.kwargs, config.meta or {}
    column = kwargs.get("column") or (", ".join(kwargs["column_list"]) if kwargs.get("column_list") else None)
    severity = meta["severity"]
    expected = _expected(config.type, kwargs)
    minimum = meta.get("critical_min_rows")
    rows = result.get("element_count")
    if severity == "critical" and minimum is not None and rows is not None and rows < minimum:
        severity = "warning"
        expected += f" (critical from {minimum:,} rows; this batch has {rows:,})"
    return Failure(
        suite=suite,
        expectation_type=config.type,
        column=column,
        severity=severity,
        observed=f"could not be checked: {error}" if error else _observed(result),
        sample_values=() if error else _samples(kwargs.get("column"), result, pii),
        expected=expected,
    )


def _exception_message(info: Any) -> str | None:
    """GX reports an exception either directly or per metric that raised it."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return value.get("exception_message") or "an exception was raised"
    return None


def _expected(kind: str, kwargs: dict) -> str:
    criteria = {k: v for k, v in kwargs.items() if k not in _NOT_CRITERIA}
    if kind == ARROW_TYPE:
        text = f"Arrow type {kwargs['arrow_type']}"
    elif kind == "expect_column_values_to_not_be_null":
        text = "no nulls"
    elif kind == "expect_column_values_to_be_unique":
        text = "unique values"
    elif kind == "expect_compound_columns_to_be_unique":
        text = f"unique ({', '.join(kwargs['column_list'])})"
    elif kind == "expect_column_values_to_match_regex":
        text = f"values matching {kwargs['regex']}"
    elif kind == "expect_column_values_to_be_in_set":
        text = "values in {" + ", ".join(_text(v) for v in kwargs["value_set"]) + "}"
    elif kind == "expect_table_columns_to_match_set":
        text = f"exactly the contract's {len(kwargs['column_set'])} columns"
    elif kind in _BOUNDED:
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        bound = (
            f"between {_text(low)} and {_text(high)}"
            if low is not None and high is not None
            else f"at least {_text(low)}"
            if low is not None
            else f"at most {_text(high)}"
            if high is not None
            else "anything (no bound yet)"
        )
        text = f"{_BOUNDED[kind]} {bound}"
    else:
        text = ", ".join(f"{k}={_text(v)}" for k, v in sorted(criteria.items())) or "the expectation to hold"
    mostly = kwargs.get("mostly")
    if mostly is not None and mostly < 1:
        text += f" for at least {mostly:.0%} of non-null values"
    return text


def _observed(result: dict) -> str:
    mismatched = (result.get("details") or {}).get("mismatched")
    if isinstance(mismatched, dict):
        parts = []
        if mismatched.get("unexpected"):
            parts.append("extra column(s) " + ", ".join(map(str, mismatched["unexpected"])))
        if mismatched.get("missing"):
            parts.append("missing column(s) " + ", ".join(map(str, mismatched["missing"])))
        if parts:
            return "; ".join(parts)
    if "observed_value" in result:
        return _text(result["observed_value"])
    if "unexpected_count" in result:
        count, rows = result["unexpected_count"], result.get("element_count", 0)
        if "missing_count" in result:  # rates are of the non-null values
            checked = rows - result["missing_count"]
            share = f" ({result['unexpected_count'] / checked:.1%})" if checked else ""
            return f"{count:,} of {checked:,} non-null values{share}"
        return f"{count:,} of {rows:,} rows" + (f" ({count / rows:.1%})" if rows else "")
    return "the expectation did not hold"


def _samples(column: str | None, result: dict, pii: frozenset[str]) -> tuple[str, ...]:
    """A few failing values, masked; with the row's identifying columns when the result has them."""
    index_columns = [c for c in result.get("unexpected_index_column_names") or [] if c != column]
    rows = result.get("partial_unexpected_index_list")
    if index_columns and isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
        shown = []
        for row in rows:
            who = ", ".join(f"{c}={_text(row.get(c))}" for c in index_columns)
            shown.append(f"{who}: {_truncate(mask_value(column, row[column], pii))}" if column in row else who)
    else:
        shown = [_truncate(mask_value(column, value, pii)) for value in result.get("partial_unexpected_list") or []]
    return tuple(dict.fromkeys(shown))[:SAMPLES]


def mask_value(column: str | None, value: Any, pii: frozenset[str] = frozenset()) -> str:
    """A failing value as a message may show it: e-mail addresses and phone numbers masked
    (`connectors.masking`), other personal columns cut to their first character."""
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k}={mask_value(k, v, pii)}" for k, v in value.items()) + ")"
    text = _text(value)
    name = (column or "").lower()
    if value is None:
        return text
    if "email" in name:
        return mask_identifier("email", text) if "@" in text else _cut(text)
    if "phone" in name:
        return mask_identifier("phone", text) if len(text) > 6 else text
    if column in pii or name == "_record":
        return _cut(text, keep=1)
    return text


def _cut(text: str, keep: int = 3) -> str:
    """Placeholders (`n/a`, `unknown`) are shown whole; anything longer only by its start."""
    return text if len(text) <= 8 and keep > 1 else text[:keep] + "***"


def _truncate(text: str) -> str:
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    try:
        return json.dumps(value, default=str)
    except TypeError:
        return str(value)
