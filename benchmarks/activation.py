"""The activation benchmark: a segment synced to the ad-audience stand-in, the first time and the day after.

`python -m benchmarks.activation` builds, per scale (`--customers`), two published warehouses with numpy,
pyarrow and DuckDB: day 0, where every customer is in the segment, and day 1, after one day of churn
(`LEAVE_SHARE` of the segment leaves, as many new customers join, `CHANGE_SHARE` change their e-mail
address or phone number). It serves the ad-audience stand-in (`tessera_simulator.destinations.ad_audience_api`)
in this process, and times `tessera.activation.engine.sync`, each in a child process of its own:

- `first`: the first full sync of day 0 into an empty audience;
- `incremental`: day 1 published, the next sync, which sends only what changed;
- `full resend`: the same day again with `full_resync=True`, which sends every member: what a sync would
  cost that did not keep state, measured in the same run.

The stand-in counts the rows and body bytes it received. The goal: an incremental day sends at most `GOAL`
times the rows that changed.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import secrets
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.harness.children import run_child
from benchmarks.harness.command import BenchmarkError
from benchmarks.harness.options import add_scale_options, resolve_scales
from benchmarks.harness.probes import cpu_seconds, peak_memory_mb, timed_call, warm_up_pyarrow
from benchmarks.harness.scales import ScaleBenchmark
from benchmarks.harness.stages import StageClock
from benchmarks.harness.tables import Column, Table, cell, ratio, ratio_cell, share_cell, table_of

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

log = logging.getLogger("benchmarks.activation")

DEFAULT_SCALES = (100_000, 1_000_000)
#: At most this many rows sent on an incremental day per changed row (`changed_rows`).
GOAL = 1.5
SEGMENT = "all_customers"
ACTIVATION_ENTRY = {"destination": "meta_ads", "mode": "add_remove", "identifiers": ["email", "phone"]}
AUDIENCE_ID = "120000000001"
#: The stand-in's access token travels to the measured child in the environment, not on its command line.
TOKEN_ENV = "TESSERA_BENCH_AD_AUDIENCE_TOKEN"
#: One day of churn, as shares of the day-0 segment: members who leave it, new customers who join it, and
#: staying customers whose e-mail address or phone number changes.
LEAVE_SHARE, JOIN_SHARE, CHANGE_SHARE = 0.005, 0.005, 0.002
#: Customers with a phone number; without marketing consent; suppressed (a handful).
PHONE_SHARE, NO_CONSENT_SHARE, SUPPRESSED_SHARE = 2 / 3, 0.03, 0.0002
#: The measured syncs of one round, in order: (key, what the tables call it, its run id, full_resync).
SYNCS = (
    ("first", "first full sync", "20260101T060000Z", False),
    ("incremental", "incremental (day 1)", "20260102T060000Z", False),
    ("full_resend", "full resend (day 1)", "20260102T070000Z", True),
)
LAST_NAMES = (
    "smith johnson williams brown jones garcia miller davis wilson taylor anderson thomas moore martin lee clark"
    " lewis walker hall young king wright scott green baker adams nelson hill campbell mitchell roberts schmidt"
    " schneider fischer weber meyer wagner becker dubois bernard durand lefebvre moreau laurent"
).split()
#: E.164 numbers per country (`pools.COUNTRIES` order): the prefix, then this many random digits.
PHONE_FORMATS = {"US": ("+1", 10), "GB": ("+447", 9), "DE": ("+4915", 9), "FR": ("+336", 8)}

#: Where a sync spends its wall time: functions it calls, each timed in the child by wrapping it, as
#: (module, function or Class.method, stage). A generator's stage is the time spent producing its items.
#: What no stage covers (the state's lock and schema, the warehouse attached, the per-member checks, the
#: sync log) is `other`; a function that is not there any more is not timed and falls in `other`.
STAGES = (
    ("tessera.activation.plan", "build_audience", "plan: the audience (segment, golden customers)"),
    ("tessera.activation.plan", "build_plan", "plan: diff against the confirmed members"),
    ("tessera.activation.engine", "_read_members", "read plan rows into members"),
    ("connectors.destinations.ad_audience", "hashed_rows", "normalise and hash identifiers"),
    ("connectors.destinations.http", "DestinationClient.request", "HTTP: encode, send, stand-in, answer"),
    ("tessera.activation.state", "confirm", "state: commit confirmed members"),
)
OTHER = "other"


# The published warehouses ------------------------------------------------------------------------


def _hex16(values: np.ndarray) -> pa.Array:
    """Unsigned 64-bit integers as 16 lower-case hex digits."""
    import numpy as np
    import pyarrow as pa

    nibbles = (values[:, None] >> np.arange(60, -4, -4, dtype=np.uint64)) & np.uint64(15)
    digits = np.frombuffer(b"0123456789abcdef", dtype="S1")[nibbles]
    return pa.array(digits.view("S16").ravel()).cast(pa.string())


def _digits(rng: np.random.Generator, n: int, width: int) -> pa.Array:
    """`n` random numbers of exactly `width` decimal digits each (leading zeros kept)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 10**width, n)), pa.string()), width, "0")


def _phones(rng: np.random.Generator, country: np.ndarray) -> pa.Array:
    """A mobile number in E.164 for each country index (`pools.COUNTRIES`)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from tessera_simulator.pools import COUNTRIES

    n = len(country)
    by_country = [
        pc.binary_join_element_wise(prefix, _digits(rng, n, width), "")
        for prefix, width in (PHONE_FORMATS[c] for c in COUNTRIES)
    ]
    return pc.choose(pa.array(country, pa.int8()), *by_country)


def customers(seed: int, first: int, n: int) -> pa.Table:
    """Customers number `first` to `first + n - 1` of `marts.golden_customers`, as a build publishes them:
    ids `cus_` + 16 hex digits, trimmed lower-case e-mail addresses (unique), E.164 phones for about
    two thirds, country, consent, value and last order. The same number always makes the same customer."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from tessera_simulator.pools import COUNTRIES, COUNTRY_WEIGHTS, EMAIL_DOMAINS, NICKNAMES

    rng = np.random.default_rng([seed, first])
    number = np.arange(first, first + n, dtype=np.uint64)
    scrambled = (number + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(seed & 0xFFFFFFFF)
    customer_id = pc.binary_join_element_wise("cus_", _hex16(scrambled), "")
    country = rng.choice(len(COUNTRIES), n, p=COUNTRY_WEIGHTS / COUNTRY_WEIGHTS.sum())
    first_names = pa.array(sorted({*NICKNAMES, *(short for names in NICKNAMES.values() for short in names)}))
    first_name = pc.take(first_names, rng.integers(0, len(first_names), n))
    last_name = pc.take(pa.array(LAST_NAMES), rng.integers(0, len(LAST_NAMES), n))
    domain_lists = [EMAIL_DOMAINS[c] for c in COUNTRIES]
    domains = pa.array([d for names, _ in domain_lists for d in names])
    offsets = np.cumsum([0, *(len(names) for names, _ in domain_lists)])
    domain_index = np.empty(n, dtype=np.int64)
    for index, (names, weights) in enumerate(domain_lists):
        chosen = country == index
        w = np.array(weights)
        domain_index[chosen] = offsets[index] + rng.choice(len(names), int(chosen.sum()), p=w / w.sum())
    local = pc.binary_join_element_wise(
        pc.utf8_lower(first_name), ".", last_name, pc.cast(pa.array(number), pa.string()), ""
    )
    email = pc.binary_join_element_wise(local, "@", pc.take(domains, pa.array(domain_index)), "")
    has_phone = rng.random(n) < PHONE_SHARE
    phone = pc.if_else(pa.array(has_phone), _phones(rng, country), pa.scalar(None, pa.string()))
    last_order = int(datetime(2025, 12, 31, tzinfo=UTC).timestamp()) - rng.integers(0, 730 * 86_400, n)
    return pa.table(
        {
            "customer_id": customer_id,
            "email": email,
            "phone": phone,
            "first_name": first_name,
            "last_name": pc.utf8_capitalize(last_name),
            "country": pc.take(pa.array(COUNTRIES), pa.array(country)),
            "marketing_consent": pa.array(rng.random(n) >= NO_CONSENT_SHARE),
            "lifetime_value": pa.array(np.round(rng.gamma(2.0, 80.0, n), 2)),
            "last_order_at": pa.array(last_order * 1_000_000, pa.timestamp("us", tz="UTC")),
        }
    )


def next_day(seed: int, golden: pa.Table) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Day 1's golden customers: day 0's (in the same order) with `CHANGE_SHARE` of them given a new e-mail
    address or phone number (half of those with a phone change it), then the joiners. Also which day-0
    customers leave the segment, and which changed (both boolean masks over day 0, disjoint)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from tessera_simulator.pools import COUNTRIES

    rng = np.random.default_rng([seed, 1])
    n = golden.num_rows
    picked = rng.permutation(n)
    leaving, changing = np.zeros(n, bool), np.zeros(n, bool)
    leaving[picked[: round(n * LEAVE_SHARE)]] = True
    changing[picked[round(n * LEAVE_SHARE) : round(n * (LEAVE_SHARE + CHANGE_SHARE))]] = True
    has_phone = golden["phone"].is_valid().to_numpy(zero_copy_only=False)
    new_phone = changing & has_phone & (rng.random(n) < 0.5)
    new_email = changing & ~new_phone
    # A new address at a new provider; `first_last` never occurs in a generated address, so it is nobody else's.
    local = pc.list_element(pc.split_pattern(golden["email"], "@", max_splits=1), 0)
    moved = pc.binary_join_element_wise(pc.replace_substring(local, ".", "_", max_replacements=1), "@proton.me", "")
    email = pc.if_else(pa.array(new_email), moved, golden["email"])
    country = pc.index_in(golden["country"], pa.array(COUNTRIES)).to_numpy(zero_copy_only=False)
    phone = pc.if_else(pa.array(new_phone), _phones(rng, country), golden["phone"])
    day1 = golden.set_column(golden.schema.get_field_index("email"), "email", email)
    day1 = day1.set_column(day1.schema.get_field_index("phone"), "phone", phone)
    joiners = customers(seed, n, round(n * JOIN_SHARE))
    return pa.concat_tables([day1, joiners]), leaving, changing


@dataclass(frozen=True)
class Days:
    """One scale's two published warehouses and what changed between them, with the expected plan."""

    folder: Path
    home: Path
    day0: Path
    day1: Path
    churn: dict[str, int]
    #: What the incremental sync must do, from the generator's own masks: removes, adds, updates.
    expected: dict[str, int]
    seconds: float


def write_warehouse(path: Path, golden: pa.Table, suppressed: pa.Table, segment: pa.Table) -> None:
    """A published warehouse as `tessera.publication` leaves one: the marts and the segment, in one file."""
    import duckdb

    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts; create schema segments")
        for table, relation in (
            (golden, "marts.golden_customers"),
            (suppressed, "marts.customer_suppressions"),
            (segment, f"segments.{SEGMENT}"),
        ):
            con.register("arrow_table", table)
            con.execute(f"create table {relation} as select * from arrow_table")
            con.unregister("arrow_table")
        con.execute("checkpoint")
    finally:
        con.close()


def prepare_days(workdir: Path, n: int, seed: int) -> Days:
    """Generate both days into a fresh folder, `<workdir>/activation-c<n>-s<seed>/` (the Tessera home is
    its `home/`), and work out from the generator's masks what the incremental sync must send."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    started = time.perf_counter()
    folder = workdir / f"activation-c{n}-s{seed}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "home").mkdir(parents=True)
    golden0 = customers(seed, 0, n)
    golden1, leaving, changing = next_day(seed, golden0)
    rng = np.random.default_rng([seed, 2])
    suppressed_mask = np.zeros(golden1.num_rows, bool)
    suppressed_mask[rng.choice(golden1.num_rows, max(round(n * SUPPRESSED_SHARE), 1), replace=False)] = True
    suppressed = pa.table(
        {
            "customer_id": golden1["customer_id"].filter(pa.array(suppressed_mask)),
            "reason": pa.array(["suppression_list"] * int(suppressed_mask.sum())),
            "suppressed_at": pa.array([datetime(2025, 12, 1, tzinfo=UTC)] * int(suppressed_mask.sum())),
        }
    )
    day0_segment = golden0.select(["customer_id"])
    in_day1 = np.concatenate([~leaving, np.ones(golden1.num_rows - n, bool)])
    day1_segment = golden1.select(["customer_id"]).filter(pa.array(in_day1))
    day0, day1 = folder / "day0.duckdb", folder / "day1.duckdb"
    write_warehouse(day0, golden0, suppressed, day0_segment)
    write_warehouse(day1, golden1, suppressed, day1_segment)

    sendable = golden1["marketing_consent"].to_numpy(zero_copy_only=False) & ~suppressed_mask
    changed = changing & (
        pc.not_equal(golden0["email"], golden1["email"].slice(0, n)).to_numpy(zero_copy_only=False)
        | pc.fill_null(pc.not_equal(golden0["phone"], golden1["phone"].slice(0, n)), False).to_numpy(
            zero_copy_only=False
        )
    )
    churn = {
        "segment_day0": day0_segment.num_rows,
        "segment_day1": day1_segment.num_rows,
        "leavers": int(leaving.sum()),
        "joiners": golden1.num_rows - n,
        "identifier_changes": int(changed.sum()),
        "sendable_day0": int(sendable[:n].sum()),
        "sendable_day1": int(sendable[in_day1].sum()),
        "suppressed": int(suppressed_mask.sum()),
        "no_consent": int((~golden1["marketing_consent"].to_numpy(zero_copy_only=False)).sum()),
        "with_phone": int(golden1["phone"].is_valid().to_numpy(zero_copy_only=False)[in_day1].sum()),
        "warehouse_bytes_day0": day0.stat().st_size,
    }
    expected = {
        "remove": int((leaving & sendable[:n]).sum()),
        "add": int(sendable[n:].sum()),
        "update": int((changed & sendable[:n]).sum()),
    }
    return Days(folder, folder / "home", day0, day1, churn, expected, time.perf_counter() - started)


def publish(days: Days, warehouse: Path) -> None:
    """Swap `warehouse` in as the published one, as `tessera.publication` does (a copy, then a rename)."""
    from tessera.home import TesseraHome
    from tessera.publication import published_path

    target = published_path(TesseraHome(days.home))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    shutil.copyfile(warehouse, partial)
    os.replace(partial, target)


def reset_home(days: Days) -> None:
    """No sync state: the next sync of the pair is its first."""
    from tessera.activation.state import state_dir
    from tessera.home import TesseraHome

    shutil.rmtree(state_dir(TesseraHome(days.home)), ignore_errors=True)


# The measured work: runs inside a child process --------------------------------------------------


def sync_child(
    home: str, url: str, audience_id: str, run_id: str, full_resync: bool, profile: str | None = None
) -> dict[str, Any]:
    """One `sync` of the segment to the stand-in at `url`, imports outside the clock; with `profile`, a
    cProfile of the sync is written there (and the seconds include the profiler's overhead)."""
    started = time.perf_counter()
    import duckdb  # noqa: F401 - what the sync imports on its first call
    import filelock  # noqa: F401
    import httpx  # noqa: F401

    import connectors.destinations.ad_audience  # noqa: F401
    from connectors.connection import ConnectionInfo
    from tessera.activation.activations import parse_activation
    from tessera.activation.engine import sync
    from tessera.home import TesseraHome

    warm_up_pyarrow()
    import_seconds, import_mb = time.perf_counter() - started, peak_memory_mb()
    clock = StageClock()
    timed = [stage for module, name, stage in STAGES if clock.wrap(module, name, stage)]
    activation = parse_activation(SEGMENT, 1, ACTIVATION_ENTRY)
    conn = ConnectionInfo(
        "tessera_dest_meta_ads",
        "http",
        host=f"{url}/v21.0",
        password=os.environ[TOKEN_ENV],
        extra={"kind": "ad_audience", "audience_id": audience_id},
    )
    result, seconds, cpu = timed_call(
        lambda: sync(TesseraHome(Path(home)), activation, conn, run_id=run_id, full_resync=full_resync), profile
    )
    stages = {stage: clock.seconds.get(stage, 0.0) for stage in timed}
    plan = result.plan
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "import_seconds": import_seconds,
        "import_mb": import_mb,
        "peak_mb": peak_memory_mb(),
        "stages": {**stages, OTHER: seconds - sum(stages.values())},
        "profiled": bool(profile),
        "status": result.status,
        "error": result.error,
        "plan": {
            "members": plan.members,
            "add": plan.add,
            "update": plan.update,
            "remove": plan.remove,
            "invalid": plan.invalid,
            "excluded": plan.excluded,
        },
        **{k: getattr(result, k) for k in ("added", "updated", "removed", "invalid", "rejected", "retried")},
    }


# The run: warehouses, the stand-in, the children, figures ----------------------------------------


class AudienceServer:
    """The ad-audience stand-in, served from this process with a fresh, empty audience and a random token.

    Its request handling runs in this process's threads while the measured sync runs in its child: on a
    small machine the two share the cores, and the sync's wall time includes the stand-in's work."""

    def __init__(self) -> None:
        from tessera_simulator.destinations.ad_audience_api import AudienceStore, ad_audience_app
        from tessera_simulator.servers.runner import BackgroundServer

        self.token = secrets.token_urlsafe(16)
        self.store = AudienceStore()
        self.store.create(AUDIENCE_ID)
        self.server = BackgroundServer(ad_audience_app(self.store, self.token), "ad-audience")

    def __enter__(self) -> AudienceServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def sent(self, before: dict[str, dict[str, int]]) -> dict[str, int]:
        """Requests, rows and body bytes the stand-in received (POST and DELETE) since `before` (its stats)."""
        after = self.store.stats()

        def delta(kind: str, method: str) -> int:
            return after[kind].get(method, 0) - before[kind].get(method, 0)

        figures = {}
        for kind, name in (("requests", "requests"), ("rows_received", "rows"), ("bytes_received", "bytes")):
            figures[f"post_{name}"], figures[f"delete_{name}"] = delta(kind, "POST"), delta(kind, "DELETE")
            figures[name] = figures[f"post_{name}"] + figures[f"delete_{name}"]
        return figures


def timed_sync(
    server: AudienceServer, days: Days, key: str, run_id: str, full_resync: bool, profile: Path | None
) -> dict[str, Any]:
    """One measured sync in its child; its figures, what the stand-in received, and the stand-in's CPU time."""
    before, cpu = server.store.stats(), cpu_seconds()
    figures = run_child(
        "benchmarks.activation:sync_child",
        f"the {key} sync of {days.home}",
        env={TOKEN_ENV: server.token},
        home=str(days.home),
        url=server.server.url,
        audience_id=AUDIENCE_ID,
        run_id=run_id,
        full_resync=full_resync,
        profile=str(profile / f"{days.churn['segment_day0']}-{key}.prof") if profile else None,
    )
    return {
        **figures,
        "server_cpu_seconds": cpu_seconds() - cpu,
        "sent": server.sent(before),
        "audience_size": server.store.size(AUDIENCE_ID),
    }


def measure(days: Days, repeat: int, profile: Path | None) -> list[dict[str, dict[str, Any]]]:
    """Every round: a fresh audience and no state; day 0 and its first sync; day 1, its sync, its full resend."""
    rounds = []
    for attempt in range(1, repeat + 1):
        reset_home(days)
        publish(days, days.day0)
        syncs: dict[str, dict[str, Any]] = {}
        with AudienceServer() as server:
            for key, name, run_id, full_resync in SYNCS:
                if key == "incremental":
                    publish(days, days.day1)
                figures = timed_sync(server, days, key, run_id, full_resync, profile if attempt == repeat else None)
                syncs[key] = figures
                log.info(
                    "  run %d/%d %-20s %7.2f s, peak %6.0f MB, %9s rows and %6.1f MB sent (stand-in CPU %.1f s)",
                    attempt,
                    repeat,
                    name,
                    figures["seconds"],
                    figures["peak_mb"],
                    f"{figures['sent']['rows']:,}",
                    figures["sent"]["bytes"] / 2**20,
                    figures["server_cpu_seconds"],
                )
                if figures["status"] != "success":
                    raise BenchmarkError(f"the {name} of {days.home} {figures['status']}: {figures['error']}")
        rounds.append(syncs)
    return rounds


def check_counts(days: Days, syncs: dict[str, dict[str, Any]]) -> None:
    """Each sync did what the generator says it must, and the audience holds exactly the sendable members."""
    churn, expected = days.churn, days.expected
    wanted = {
        "first": ({"add": churn["sendable_day0"], "update": 0, "remove": 0}, churn["sendable_day0"]),
        "incremental": (expected, churn["sendable_day1"]),
        "full_resend": ({"add": churn["sendable_day1"], "update": 0, "remove": 0}, churn["sendable_day1"]),
    }
    for key, (plan, size) in wanted.items():
        figures = syncs[key]
        got = {change: figures["plan"][change] for change in plan}
        done = {"add": figures["added"], "update": figures["updated"], "remove": figures["removed"]}
        if got != plan or done != plan or figures["rejected"] or figures["invalid"] or figures["audience_size"] != size:
            raise BenchmarkError(
                f"the {key} sync of {days.home}: planned {got} and confirmed {done} where the day's churn makes"
                f" {plan}; {figures['rejected']} rejected, {figures['invalid']} invalid; the audience holds"
                f" {figures['audience_size']:,} rows where {size:,} members are sendable"
            )


def summarise_sync(key: str, name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One kind of sync over the rounds: the counts (the same in every round) and the medians."""
    first = runs[0]
    for figure in ("plan", "sent"):
        if any(run[figure] != first[figure] for run in runs):
            raise BenchmarkError(f"the {name} rounds disagree on {figure}: {[run[figure] for run in runs]}")

    def median(figure: str) -> float:
        return statistics.median(run[figure] for run in runs)

    seconds = median("seconds")
    plan, sent = first["plan"], first["sent"]
    segment_rows = plan["members"] + plan["invalid"] + plan["excluded"]
    stages = [
        {"stage": stage, "seconds": statistics.median(run["stages"][stage] for run in runs)}
        for stage in first["stages"]
    ]
    return {
        "sync": name,
        "key": key,
        "plan": plan,
        "segment_rows": segment_rows,
        "rows_sent": sent["rows"],
        "requests": sent["requests"],
        "bytes_sent": sent["bytes"],
        "mb_sent": sent["bytes"] / 2**20,
        "sent": sent,
        "seconds": seconds,
        "cpu_seconds": median("cpu_seconds"),
        "server_cpu_seconds": median("server_cpu_seconds"),
        "import_seconds": median("import_seconds"),
        "peak_mb": median("peak_mb"),
        "rows_per_second": ratio(sent["rows"], seconds),
        "segment_rows_per_second": ratio(segment_rows, seconds),
        "stages": [{**s, "share": ratio(s["seconds"], seconds)} for s in stages],
    }


def summarise(days: Days, rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """One scale's figures: each sync's medians, the changed rows, and the two verdict ratios."""
    for syncs in rounds:
        check_counts(days, syncs)
    syncs = {key: summarise_sync(key, name, [r[key] for r in rounds]) for key, name, _, _ in SYNCS}
    incremental, full = syncs["incremental"], syncs["full_resend"]
    plan = incremental["plan"]
    changed = plan["add"] + plan["update"] + plan["remove"]
    sent_ratio = ratio(incremental["rows_sent"], changed)
    return {
        "customers": days.churn["segment_day0"],
        "churn": days.churn,
        "expected": days.expected,
        "prepare_seconds": days.seconds,
        "syncs": list(syncs.values()),
        "changed_rows": changed,
        "members": plan["members"],
        "rows_sent": incremental["rows_sent"],
        #: An identifier change is one changed row, sent as two (the old row removed, the new one added).
        "expected_rows_sent": plan["add"] + plan["remove"] + 2 * plan["update"],
        "sent_ratio": sent_ratio,
        "incremental_bytes": incremental["bytes_sent"],
        "full_resend_bytes": full["bytes_sent"],
        "bytes_ratio": ratio(incremental["bytes_sent"], full["bytes_sent"]),
        "time_ratio": ratio(incremental["seconds"], full["seconds"]),
        "goal": GOAL,
        "within_goal": sent_ratio is not None and sent_ratio <= GOAL,
        "runs": rounds,
    }


SYNC_COLUMNS: tuple[Column, ...] = (
    ("sync", cell("sync")),
    ("add", cell("plan.add", ",")),
    ("update", cell("plan.update", ",")),
    ("remove", cell("plan.remove", ",")),
    ("rows sent", cell("rows_sent", ",")),
    ("MB sent", cell("mb_sent", ",.1f")),
    ("seconds", cell("seconds", ".1f")),
    ("rows sent/s", cell("rows_per_second", ",.0f")),
    ("segment rows/s", cell("segment_rows_per_second", ",.0f")),
    ("stand-in CPU s", cell("server_cpu_seconds", ".1f")),
    ("peak MB", cell("peak_mb", ",.0f")),
)


def stage_table(result: dict[str, Any]) -> Table:
    """Each sync's time stage by stage (a column pair per sync), then the wall time."""
    syncs = result["syncs"]
    header = ("stage", *(title for s in syncs for title in (f"{s['key'].replace('_', ' ')} s", "share")))
    names = [stage["stage"] for stage in syncs[0]["stages"]]
    rows = [
        (name, *(c for s in syncs for c in _stage_cells(next(x for x in s["stages"] if x["stage"] == name))))
        for name in names
    ]
    total = ("sync (wall)", *(c for s in syncs for c in (f"{s['seconds']:.2f}", "100.0 %")))
    return Table(header, (*rows, total))


def _stage_cells(stage: dict[str, Any]) -> tuple[str, str]:
    return f"{stage['seconds']:.2f}", share_cell(stage["share"] or 0.0)


SCALE_COLUMNS: tuple[Column, ...] = (
    ("customers", cell("customers", ",")),
    ("members", cell("members", ",")),
    ("changed rows", cell("changed_rows", ",")),
    ("rows sent", cell("rows_sent", ",")),
    ("sent ÷ changed", cell("sent_ratio", ".2f")),
    ("incremental MB", lambda r: f"{r['incremental_bytes'] / 2**20:,.1f}"),
    ("full resend MB", lambda r: f"{r['full_resend_bytes'] / 2**20:,.1f}"),
    ("bytes ÷ full", lambda r: share_cell(r["bytes_ratio"])),
    ("first sync s", lambda r: f"{_sync(r, 'first')['seconds']:.1f}"),
    ("first rows/s", lambda r: f"{_sync(r, 'first')['rows_per_second']:,.0f}"),
    ("incremental s", lambda r: f"{_sync(r, 'incremental')['seconds']:.1f}"),
    ("full resend s", lambda r: f"{_sync(r, 'full_resend')['seconds']:.1f}"),
    ("goal ≤ 1.5", lambda r: "met" if r["within_goal"] else "missed"),
)


def _sync(result: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in result["syncs"] if s["key"] == key)


def readme_tables(report: dict[str, Any]) -> dict[str, Table]:
    """Per scale, the syncs (`syncs-<customers>`) and their stages (`stages-<customers>`); and the table
    across the scales (`scales`)."""
    tables = {}
    for result in report["results"]:
        tables[f"syncs-{result['customers']}"] = table_of(SYNC_COLUMNS, result["syncs"])
        tables[f"stages-{result['customers']}"] = stage_table(result)
    return {**tables, "scales": table_of(SCALE_COLUMNS, report["results"])}


def summary_line(r: dict[str, Any]) -> str:
    first, incremental, full = (_sync(r, key) for key in ("first", "incremental", "full_resend"))
    plan = incremental["plan"]
    return (
        f"First full sync: {first['rows_sent']:,} rows, {first['mb_sent']:,.1f} MB in {first['seconds']:.1f} s"
        f" ({first['rows_per_second']:,.0f} rows/s). Incremental day: {r['changed_rows']:,} changed rows"
        f" ({plan['remove']:,} left, {plan['add']:,} joined, {plan['update']:,} changed an identifier),"
        f" {r['rows_sent']:,} rows sent (sent ÷ changed {ratio_cell(r['sent_ratio'])}, goal ≤ {GOAL:g}:"
        f" {'met' if r['within_goal'] else 'missed'}), {incremental['mb_sent']:,.2f} MB in"
        f" {incremental['seconds']:.1f} s; a full resend sends {full['mb_sent']:,.1f} MB in {full['seconds']:.1f} s"
        f" (incremental ÷ full resend: {share_cell(r['bytes_ratio'])} of the bytes,"
        f" {share_cell(r['time_ratio'] or 0.0)} of the time)."
    )


def run_scale(workdir: Path, n: int, seed: int, repeat: int, profile: Path | None = None) -> dict[str, Any]:
    """Both days and every measured sync at one scale; its summary."""
    log.info("generating two published warehouses of %s customers (seed %d)", f"{n:,}", seed)
    days = prepare_days(workdir, n, seed)
    churn = days.churn
    log.info(
        "  in %.1f s: %s in the segment, %s sendable; day 1: %s leave, %s join, %s change an identifier",
        days.seconds,
        f"{churn['segment_day0']:,}",
        f"{churn['sendable_day0']:,}",
        f"{churn['leavers']:,}",
        f"{churn['joiners']:,}",
        f"{churn['identifier_changes']:,}",
    )
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
    log.info("measuring: %d × (first full sync, incremental, full resend)", repeat)
    result = summarise(days, measure(days, repeat, profile))
    return {**result, "seed": seed, "profiled": bool(profile)}


def heading(result: dict[str, Any]) -> str:
    churn = result["churn"]
    return (
        f"Syncs of a {result['customers']:,}-customer segment ({result['members']:,} sendable on day 1) to the"
        f" ad-audience stand-in; day 1: {churn['leavers']:,} leave, {churn['joiners']:,} join,"
        f" {churn['identifier_changes']:,} change an identifier (seed {result['seed']})"
    )


def context() -> dict[str, Any]:
    return {
        "segment": SEGMENT,
        "activation": ACTIVATION_ENTRY,
        "churn_shares": {"leave": LEAVE_SHARE, "join": JOIN_SHARE, "change": CHANGE_SHARE},
        "goal": GOAL,
        "versions": {name: version(name) for name in ("duckdb", "httpx", "pyarrow", "uvicorn", "fastapi")},
    }


@dataclass(frozen=True)
class ActivationBenchmark(ScaleBenchmark):
    """A `ScaleBenchmark` that can also profile the last round's syncs (`--profile DIR`)."""

    def parse_args(self, argv: list[str] | None) -> argparse.Namespace:
        parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{self.name}", description=self.description)
        add_scale_options(parser, self.default_scales, self.repeat_help)
        parser.add_argument(
            "--profile",
            type=Path,
            default=None,
            help="write a cProfile of each sync of the last round to DIR/<customers>-<sync>.prof "
            "(its figures then include the profiler's overhead)",
        )
        args = parser.parse_args(argv)
        resolve_scales(args, self.default_scales)
        return args

    def run(self, args: argparse.Namespace) -> Path:
        profile = args.profile.resolve() if args.profile else None
        return ScaleBenchmark.run(replace(self, run_scale=functools.partial(run_scale, profile=profile)), args)


BENCHMARK = ActivationBenchmark(
    name="activation",
    description="Time the first full sync of a segment to the ad-audience stand-in, the incremental sync after "
    "one day of churn and a full resend, and count the rows and bytes each sends (see benchmarks/README.md).",
    default_scales=DEFAULT_SCALES,
    repeat_help="rounds of (first sync, incremental, full resend) per scale, reporting the median",
    run_scale=run_scale,
    heading=heading,
    table="syncs",
    summary=summary_line,
    readme_tables=readme_tables,
    context=context,
    footnote=f"seconds: wall time of sync() in its child process, imports excluded; the stand-in runs in this"
    f" process on the same cores. Goal: incremental rows sent ÷ changed rows ≤ {GOAL:g}.",
)


def main(argv: list[str] | None = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    sys.exit(main())
