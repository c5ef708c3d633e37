"""The Check capability: Great Expectations suites that gate landed batches and the golden marts.

What Airflow tasks, `tessera transform` and `tessera check` call:

- `check_batch(home, contract, batch_id)`: validate one landed batch; it becomes visible (`_CHECKED.json`)
  or is held (`_HELD.json`). `check_pending(home)` does so for every batch not checked yet.
- `release_batch(home, contract, batch_id, reason, who)`: an operator accepts a held batch.
- `check_marts(home)`: validate the marts dbt built; `raise_on_critical(results)` raises `CheckFailed`.
- `held_batches(home)`: what is held, for `tessera status`.

The suites are JSON files in `expectations/` (`expectations_dir()`); results and Data Docs go under
`$TESSERA_HOME/checks/`. See docs/checks.md. Importing this package imports neither GX nor pandas.
"""

from __future__ import annotations

import os

# Before anything imports GX: it would otherwise send usage statistics.
os.environ["GX_ANALYTICS_ENABLED"] = "false"

from tessera.checks.batch_checks import check_batch, check_pending  # noqa: E402
from tessera.checks.context import checks_dir, data_docs_index, expectations_dir  # noqa: E402
from tessera.checks.holds import HeldBatch, ReleaseRefused, held_batches, release_batch, releases_log  # noqa: E402
from tessera.checks.mart_checks import check_marts  # noqa: E402
from tessera.checks.results import CheckFailed, CheckResult, Failure, raise_on_critical  # noqa: E402
from tessera.checks.suites import SuiteError  # noqa: E402

__all__ = [
    "CheckFailed",
    "CheckResult",
    "Failure",
    "HeldBatch",
    "ReleaseRefused",
    "SuiteError",
    "check_batch",
    "check_marts",
    "check_pending",
    "checks_dir",
    "data_docs_index",
    "expectations_dir",
    "held_batches",
    "raise_on_critical",
    "release_batch",
    "releases_log",
]
