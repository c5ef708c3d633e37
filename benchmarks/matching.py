"""The matching benchmark: probabilistic person matching against plain Splink on the same records.

`python -m benchmarks.matching` builds (or reuses) a simulated world per scale, and from it the
profile records matching reads: the CRM contacts, ESP subscribers and loyalty members are read
straight from the simulator's stores into a lake under the landing contract (no API round trips:
this benchmark is about matching, not extraction), normalised into `int_profile_records` by dbt as in any build, and
kept as one Parquet file that later runs reuse. Then, each in a child process of its own:

- `score`: `transforms.identity.matching.score` with the shipped model at the default threshold: what the
  daily build runs (`int_identity_edges__probabilistic`);
- `train`: `transforms.identity.matching.train` on the same records: what `tessera train-matcher` runs;
- `splink`: plain Splink on the same records, end to end (estimate the prior, u by random
  sampling, EM on two blocking rules, predict), with the comparisons of Splink's own tutorial.

The ratios say what Tessera's model (nickname sets, birth-date and household levels, 14 wide
blocking rules, the scratch database) costs over a plain Splink run on this machine today, so
figures from a shared, noisy machine stay comparable from run to run.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.harness.children import run_child
from benchmarks.harness.probes import cpu_seconds, peak_memory_mb
from benchmarks.harness.scales import ScaleBenchmark
from benchmarks.harness.stores import STORE_TABLES
from benchmarks.harness.tables import Column, Table, cell, ratio, table_of
from benchmarks.harness.world import DEFAULT_WORLD, World, main_on_a_world, prepare_world

log = logging.getLogger("benchmarks.matching")

DEFAULT_SCALES = (100_000,)
THRESHOLD = 0.95
KINDS = ("score", "train", "splink")

#: What each profile stream's store table (`STORE_TABLES`) holds, as the landing contract's columns
#: (SQLite expressions), by the stream's name.
STORE_COLUMNS: dict[str, dict[str, str]] = {
    "crm.contacts": {
        "contact_id": "key",
        "email": "email",
        "phone": "phone",
        "first_name": "firstname",
        "last_name": "lastname",
        "birth_date": "date_of_birth",
        "street": "address",
        "city": "city",
        "postcode": "zip",
        "country": "country",
        "company": "company",
        "marketing_opt_in": "hs_marketable_status = 'true'",
        "is_deleted": "archived = 1",
        "created_at": "created_ms",
        "updated_at": "updated_ms",
    },
    "email.subscribers": {
        "subscriber_id": "key",
        "email": "email_address",
        "status": "status",
        "first_name": "nullif(fname, '')",
        "last_name": "nullif(lname, '')",
        "opted_in_at": "timestamp_opt_ms",
        "updated_at": "last_changed_ms",
    },
    "pos.loyalty_members": {
        name: name
        for name in (
            "loyalty_id first_name last_name email phone birth_date street city postcode country enrolled_at updated_at"
        ).split()
    },
}


# The measured work: runs inside a child process --------------------------------------------------


def score_child(profiles: str, model: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from tessera.resources import nicknames_path
    from transforms.identity.matching import PAIRS_COMPARED, MatcherModel, read_nicknames, score

    records, matcher, nicknames = (
        pq.read_table(profiles),
        MatcherModel.load(Path(model)),
        read_nicknames(nicknames_path()),
    )
    cpu, started = cpu_seconds(), time.perf_counter()
    pairs = score(records, matcher, THRESHOLD, nicknames=nicknames)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    compared = int(pairs.schema.metadata[PAIRS_COMPARED.encode()])
    return _figures(seconds, cpu, records.num_rows, compared, pairs.num_rows)


def train_child(profiles: str, model: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from tessera.resources import nicknames_path
    from transforms.identity.matching import read_nicknames, train

    records, nicknames = pq.read_table(profiles), read_nicknames(nicknames_path())
    cpu, started = cpu_seconds(), time.perf_counter()
    train(records, nicknames, seed=42)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return _figures(seconds, cpu, records.num_rows, None, None)


def splink_child(profiles: str, model: str) -> dict[str, Any]:
    """Plain Splink, end to end, as its tutorial sets it up, on the same profile records.

    The tutorial blocks on the surname alone; at these sizes (a few hundred surnames per country
    in the simulation) that is hundreds of millions of pairs, so it blocks on surname and postcode.
    """
    import duckdb
    import pyarrow.parquet as pq
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    records = pq.read_table(profiles)
    con = duckdb.connect()
    con.register("records", records)
    datasets = [r[0] for r in con.execute("select distinct source_dataset from records order by 1").fetchall()]
    for i, dataset in enumerate(datasets):
        con.execute(
            f"create table input_{i} as select * exclude (source_dataset, updated_at) from records"
            " where source_dataset = ?",
            [dataset],
        ).fetchall()
    con.unregister("records")
    del records
    settings = SettingsCreator(
        link_type="link_and_dedupe",
        unique_id_column_name="record_key",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("last_name"),
            cl.DateOfBirthComparison("birth_date", input_is_string=False),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode"),
            cl.EmailComparison("email"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "birth_date"),
            block_on("last_name", "birth_date"),
            block_on("last_name", "postcode"),
            block_on("email"),
        ],
    )
    cpu, started = cpu_seconds(), time.perf_counter()
    db_api = DuckDBAPI(connection=con)
    inputs = [db_api.register(f"input_{i}", dataset_display_name=d) for i, d in enumerate(datasets)]
    linker = Linker(inputs, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "last_name", "birth_date"), block_on("email")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=42)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "last_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    blocked = linker.inference.compute_blocked_pairs_for_predict()  # predict() reuses it
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    kept = con.sql(f"select count(*) from {predictions.physical_name}").fetchall()[0][0]
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    compared = con.sql(f"select count(*) from {blocked.physical_name}").fetchall()[0][0]
    n = sum(con.sql(f"select count(*) from input_{i}").fetchall()[0][0] for i in range(len(datasets)))
    return _figures(seconds, cpu, n, compared, kept)


def _figures(seconds: float, cpu: float, records: int, compared: int | None, kept: int | None) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "records": records,
        "pairs_compared": compared,
        "pairs_kept": kept,
        "peak_mb": peak_memory_mb(),
    }


# The run: world, profile records, children, figures ---------------------------------------------


def _store_table(sim_dir: Path, clock: datetime, contract):
    """One profile stream's store table up to the clock, as a table under its landing contract's schema."""
    import pyarrow as pa

    store, columns = STORE_TABLES[contract.name], STORE_COLUMNS[contract.name]
    select = ", ".join(f"{expr} as {name}" for name, expr in columns.items())
    conn = sqlite3.connect(f"file:{sim_dir / store.filename}?mode=ro", uri=True)
    try:
        cursor = conn.execute(
            f"select {select} from {store.table} where {store.time_column} < ?", (store.window_end(clock),)
        )
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        conn.close()
    epoch_ms = store.bound == "epoch_ms"  # the API stores keep epoch milliseconds, the POS naive UTC text
    data = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    arrays = []
    for field in contract.schema:
        values = data.get(field.name)
        if values is None:
            arrays.append(pa.nulls(len(rows), field.type))
        elif pa.types.is_boolean(field.type):  # SQLite answers comparisons with 0 and 1
            arrays.append(pa.array(values, pa.int64()).cast(pa.bool_()))
        elif pa.types.is_timestamp(field.type) and epoch_ms:
            arrays.append(pa.array(values, pa.int64()).cast(pa.timestamp("ms", tz="UTC")).cast(field.type))
        elif pa.types.is_timestamp(field.type):  # naive UTC text
            arrays.append(pa.array(values, pa.string()).cast(pa.timestamp("us")).cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=contract.schema)


def prepare_profiles(workdir: Path, world: World) -> tuple[Path, float]:
    """The world's profile records in matching shape, built once per world clock and reused; where they
    are, and the seconds building them took."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from connectors.lake import SUCCESS, write_marker
    from connectors.registry import registry
    from tessera.dbt_runner import run_transform
    from tessera.home import TesseraHome
    from tessera.matcher_training import PROFILE_SELECTION, warehouse_profile_records

    root = workdir / f"matching-c{world.customers}-s{world.seed}"
    profiles, marker = root / "profiles.parquet", root / "profiles.json"
    if marker.exists() and json.loads(marker.read_text())["clock"] == world.clock.isoformat():
        log.info("profile records reused: %s", profiles)
        return profiles, 0.0
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    home = TesseraHome(root)
    batch = f"upto-{world.clock:%Y%m%dT%H%M%SZ}"
    for contract in registry().streams:
        folder = home.lake / "raw" / contract.lake_path / f"batch_id={batch}"
        folder.mkdir(parents=True)
        if contract.name in STORE_COLUMNS:
            table = _store_table(world.sim_dir, world.clock, contract)
            metadata = {
                "_batch_id": pa.array([batch] * table.num_rows, pa.string()),
                "_extracted_at": pa.array([world.clock] * table.num_rows, pa.timestamp("us", tz="UTC")),
            }
            for name, values in metadata.items():
                table = table.set_column(table.schema.get_field_index(name), name, values)
            log.info("  %s: %s records from the store", contract.lake_path, f"{table.num_rows:,}")
        else:
            table = contract.schema.empty_table()
        pq.write_table(table, folder / "part-00000.parquet")
        write_marker(folder, SUCCESS)  # published as any loader does; the build's checks make it visible
    log.info("  dbt build of int_profile_records and the staging models it reads")
    run_transform(home, select=PROFILE_SELECTION)
    pq.write_table(warehouse_profile_records(home), profiles)
    marker.write_text(json.dumps({"clock": world.clock.isoformat()}) + "\n")
    seconds = time.perf_counter() - started
    log.info("profile records built in %.1f s (not part of the figures): %s", seconds, profiles)
    return profiles, seconds


def run_measured(kind: str, profiles: Path, model: Path) -> dict[str, Any]:
    """One child process of `kind` (score, train or splink); its figures."""
    return run_child(
        f"benchmarks.matching:{kind}_child", f"the {kind} run on {profiles}", profiles=str(profiles), model=str(model)
    )


def measure(profiles: Path, model: Path, repeat: int) -> dict[str, list[dict]]:
    """Every run of every kind, taking turns so drift on the machine hits them alike."""
    runs: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for attempt in range(1, repeat + 1):
        for kind in KINDS:
            figures = run_measured(kind, profiles, model)
            runs[kind].append(figures)
            log.info(
                "  run %d/%d %-6s %8.1f s, %s pairs compared, peak %7.1f MB",
                attempt,
                repeat,
                kind,
                figures["seconds"],
                "n/a" if figures["pairs_compared"] is None else f"{figures['pairs_compared']:,}",
                figures["peak_mb"],
            )
    return runs


def summarise(world: World, runs: dict[str, list[dict]]) -> dict[str, Any]:
    """One scale's figures: medians over the repeats, and each kind ÷ plain Splink."""
    rows = {}
    for kind, group in runs.items():
        rows[kind] = {
            "seconds": statistics.median(r["seconds"] for r in group),
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in group),
            "peak_mb": statistics.median(r["peak_mb"] for r in group),
            "records": group[0]["records"],
            "pairs_compared": group[0]["pairs_compared"],
            "pairs_kept": group[0]["pairs_kept"],
        }
    splink = rows["splink"]
    for row in rows.values():
        row["time_ratio"] = ratio(row["seconds"], splink["seconds"])
        row["memory_ratio"] = ratio(row["peak_mb"], splink["peak_mb"])
    return {
        "customers": world.customers,
        "seed": world.seed,
        "shape": world.shape,
        "clock": world.clock.isoformat(),
        "kinds": rows,
        "runs": runs,
    }


LABELS = {
    "score": "tessera score (daily)",
    "train": "tessera train",
    "splink": "splink train+predict",
}


COLUMNS: tuple[Column, ...] = (
    ("run", cell("run")),
    ("records", cell("records", ",")),
    ("seconds", cell("seconds", ".1f")),
    ("pairs compared", cell("pairs_compared", ",")),
    (f"pairs ≥ {THRESHOLD}", cell("pairs_kept", ",")),
    ("peak MB", cell("peak_mb", ",.0f")),
    ("time ×", cell("time_ratio", ".2f")),
    ("memory ×", cell("memory_ratio", ".2f")),
)


def readme_tables(report: dict[str, Any]) -> dict[str, Table]:
    """The runs table per scale (`runs-<customers>`): each kind of run against plain Splink."""
    return {
        f"runs-{r['customers']}": table_of(COLUMNS, ({"run": LABELS[kind], **row} for kind, row in r["kinds"].items()))
        for r in report["results"]
    }


def run_scale(workdir: Path, customers: int, seed: int, repeat: int, shape: str = DEFAULT_WORLD) -> dict[str, Any]:
    """World (of `shape`), profile records and every measured run at one scale, with the shipped model; its summary."""
    from tessera.resources import matcher_model_path

    world = prepare_world(workdir, customers, seed, shape)
    profiles, seconds = prepare_profiles(world.workdir, world)
    runs = measure(profiles, matcher_model_path(), repeat)
    return {**summarise(world, runs), "profiles": str(profiles), "profiles_setup_seconds": seconds}


def heading(result: dict[str, Any]) -> str:
    return f"Matching at {result['customers']:,} customers (seed {result['seed']})"


def model_context() -> dict[str, Any]:
    """The model scored with and the threshold, for the results file."""
    from tessera.resources import matcher_model_path

    return {"model": str(matcher_model_path()), "threshold": THRESHOLD}


BENCHMARK = ScaleBenchmark(
    name="matching",
    description="Time probabilistic matching (scoring with the shipped model, and training) against plain "
    "Splink end to end on the same profile records, in the same run (see benchmarks/README.md).",
    default_scales=DEFAULT_SCALES,
    repeat_help="runs of each, reporting the median",
    run_scale=run_scale,
    heading=heading,
    table="runs",
    readme_tables=readme_tables,
    footnote="time × and memory × are each run ÷ plain Splink.",
    context=model_context,
)


def main(argv: list[str] | None = None) -> int:
    return main_on_a_world(BENCHMARK, argv)


if __name__ == "__main__":
    sys.exit(main())
