"""The matching benchmark: probabilistic person matching against plain Splink on the same records.

`python -m benchmarks.matching` builds (or reuses) a simulated world per scale, and from it the
profile records matching reads: the CRM contacts, ESP subscribers and loyalty members are read
straight from the simulator's stores into a lake under the landing contract (no API round trips:
this benchmark is about matching, not extraction), normalised by dbt staging as in any build, and
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

import argparse
import json
import logging
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.extraction import (
    LAUNCHER,
    PROJECT_ROOT,
    BenchmarkError,
    World,
    cpu_seconds,
    default_workdir,
    machine,
    peak_memory_mb,
    prepare_world,
)
from benchmarks.harness import run_command
from benchmarks.scales import add_scale_options, resolve_scales

log = logging.getLogger("benchmarks.matching")

DEFAULT_SCALES = (100_000,)
THRESHOLD = 0.95
KINDS = ("score", "train", "splink")

#: What each stream's store table holds, as the landing contract's columns (SQLite expressions).
STORE_COLUMNS: dict[tuple[str, str], tuple[str, str, str, dict[str, str]]] = {
    ("crm", "contacts"): (
        "crm.sqlite",
        "contacts",
        "updated_ms",
        {
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
    ),
    ("email", "subscribers"): (
        "esp.sqlite",
        "members",
        "last_changed_ms",
        {
            "subscriber_id": "key",
            "email": "email_address",
            "status": "status",
            "first_name": "nullif(fname, '')",
            "last_name": "nullif(lname, '')",
            "opted_in_at": "timestamp_opt_ms",
            "updated_at": "last_changed_ms",
        },
    ),
    ("pos", "loyalty_members"): (
        "pos.sqlite",
        "loyalty_members",
        "updated_at",
        {
            name: name
            for name in (
                "loyalty_id first_name last_name email phone birth_date street city postcode country"
                " enrolled_at updated_at"
            ).split()
        },
    ),
}


# The measured work: runs inside a child process --------------------------------------------------


def score_child(profiles: Path, model: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from tessera.resources import nicknames_path
    from transforms.identity.matching import PAIRS_COMPARED, MatcherModel, read_nicknames, score

    records, matcher, nicknames = pq.read_table(profiles), MatcherModel.load(model), read_nicknames(nicknames_path())
    cpu, started = cpu_seconds(), time.perf_counter()
    pairs = score(records, matcher, THRESHOLD, nicknames=nicknames)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    compared = int(pairs.schema.metadata[PAIRS_COMPARED.encode()])
    return _figures(seconds, cpu, records.num_rows, compared, pairs.num_rows)


def train_child(profiles: Path, model: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from tessera.resources import nicknames_path
    from transforms.identity.matching import read_nicknames, train

    records, nicknames = pq.read_table(profiles), read_nicknames(nicknames_path())
    cpu, started = cpu_seconds(), time.perf_counter()
    train(records, nicknames, seed=42)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return _figures(seconds, cpu, records.num_rows, None, None)


def splink_child(profiles: Path, model: Path) -> dict[str, Any]:
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


CHILDREN = {"score": score_child, "train": train_child, "splink": splink_child}


def child_main(args: argparse.Namespace) -> int:
    """Run one measured piece of work and print its figures as the last line of output."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(CHILDREN[args.child](Path(args.profiles), Path(args.model))))
    return 0


# The run: world, profile records, children, figures ---------------------------------------------


def _store_table(sim_dir: Path, clock: datetime, source: str, stream: str):
    """One stream's store table up to the clock, as a table under the landing contract's schema."""
    import pyarrow as pa

    from connectors.contract import contract_for

    filename, table, time_column, columns = STORE_COLUMNS[(source, stream)]
    epoch_ms = filename != "pos.sqlite"  # the API stores keep epoch milliseconds, the POS naive UTC text
    bound: int | str = int(clock.timestamp() * 1000)
    if not epoch_ms:
        bound = clock.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    select = ", ".join(f"{expr} as {name}" for name, expr in columns.items())
    conn = sqlite3.connect(f"file:{sim_dir / filename}?mode=ro", uri=True)
    try:
        cursor = conn.execute(f"select {select} from {table} where {time_column} < ?", (bound,))
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        conn.close()
    schema = contract_for(source, stream).schema
    data = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    arrays = []
    for field in schema:
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
    return pa.Table.from_arrays(arrays, schema=schema)


def prepare_profiles(workdir: Path, world: World) -> tuple[Path, str, float]:
    """The world's profile records in matching shape, built once per world clock and reused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from connectors.contract import CONTRACTS
    from tessera.dbt_runner import run_transform
    from tessera.home import TesseraHome
    from tessera.matcher_training import PROFILE_SELECTION, warehouse_profile_records

    root = workdir / f"matching-c{world.customers}-s{world.seed}"
    profiles, marker = root / "profiles.parquet", root / "profiles.json"
    if marker.exists() and json.loads(marker.read_text())["clock"] == world.clock.isoformat():
        return profiles, "reused", 0.0
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    home = TesseraHome(root)
    batch = f"upto-{world.clock:%Y%m%dT%H%M%SZ}"
    for contract in CONTRACTS.values():
        folder = home.lake / "raw" / contract.source / contract.stream / f"batch_id={batch}"
        folder.mkdir(parents=True)
        if (contract.source, contract.stream) in STORE_COLUMNS:
            table = _store_table(world.sim_dir, world.clock, contract.source, contract.stream)
            metadata = {
                "_batch_id": pa.array([batch] * table.num_rows, pa.string()),
                "_extracted_at": pa.array([world.clock] * table.num_rows, pa.timestamp("us", tz="UTC")),
            }
            for name, values in metadata.items():
                table = table.set_column(table.schema.get_field_index(name), name, values)
            log.info("  %s/%s: %s records from the store", contract.source, contract.stream, f"{table.num_rows:,}")
        else:
            table = contract.schema.empty_table()
        pq.write_table(table, folder / "part-00000.parquet")
    log.info("  dbt build of the profile staging models")
    run_transform(home, select=PROFILE_SELECTION)
    pq.write_table(warehouse_profile_records(home), profiles)
    marker.write_text(json.dumps({"clock": world.clock.isoformat()}) + "\n")
    return profiles, "built", time.perf_counter() - started


def run_measured(kind: str, profiles: Path, model: Path) -> dict[str, Any]:
    """One child process of `kind`; its figures."""
    command = [
        *(sys.executable, "-S", "-c", LAUNCHER),
        *(sys.executable, "-m", "benchmarks.matching", "--child", kind),
        *("--profiles", str(profiles), "--model", str(model)),
    ]
    proc = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("{"):
        tail = "\n".join((proc.stderr.strip() or proc.stdout.strip()).splitlines()[-25:])
        why = f"exit {proc.returncode}"
        if proc.returncode in (-9, 137):
            why += ", killed (by the kernel's out-of-memory killer, if memory ran out)"
        raise BenchmarkError(f"the {kind} run on {profiles} failed ({why}); its last output:\n{tail or '(none)'}")
    return json.loads(lines[-1])


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
        row["time_ratio"] = row["seconds"] / splink["seconds"] if splink["seconds"] else None
        row["memory_ratio"] = row["peak_mb"] / splink["peak_mb"] if splink["peak_mb"] else None
    return {
        "customers": world.customers,
        "seed": world.seed,
        "clock": world.clock.isoformat(),
        "kinds": rows,
        "runs": runs,
    }


LABELS = {
    "score": "tessera score (daily)",
    "train": "tessera train",
    "splink": "splink train+predict",
}


def format_table(result: dict[str, Any]) -> str:
    header = ["run", "records", "seconds", "pairs compared", "pairs ≥ 0.95", "peak MB", "time ×", "memory ×"]
    body = []
    for kind, row in result["kinds"].items():
        body.append(
            [
                LABELS[kind],
                f"{row['records']:,}",
                f"{row['seconds']:.1f}",
                "n/a" if row["pairs_compared"] is None else f"{row['pairs_compared']:,}",
                "n/a" if row["pairs_kept"] is None else f"{row['pairs_kept']:,}",
                f"{row['peak_mb']:.0f}",
                f"{row['time_ratio']:.2f}",
                f"{row['memory_ratio']:.2f}",
            ]
        )
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in body)])


def run_scale(workdir: Path, customers: int, seed: int, repeat: int, model: Path) -> dict[str, Any]:
    log.info("preparing a world of %s customers (seed %d) in %s", f"{customers:,}", seed, workdir)
    world = prepare_world(workdir, customers, seed)
    log.info("world %s in %.1f s (not part of the figures)", world.setup, world.setup_seconds)
    profiles, setup, seconds = prepare_profiles(workdir, world)
    log.info("profile records %s in %.1f s (not part of the figures): %s", setup, seconds, profiles)
    runs = measure(profiles, model, repeat)
    return {**summarise(world, runs), "profiles": str(profiles), "profiles_setup_seconds": seconds}


def run_benchmark(args: argparse.Namespace) -> Path:
    """The whole benchmark, scale by scale; returns the path of the JSON results (rewritten after each scale)."""
    from tessera.resources import matcher_model_path

    workdir = Path(args.workdir).resolve()
    started_at = datetime.now(UTC)
    machine_before = machine()
    out = workdir / "results" / f"matching-{started_at:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    for customers in args.customers:
        result = run_scale(workdir, customers, args.seed, args.repeat, matcher_model_path())
        results.append(result)
        report = {
            "benchmark": "matching",
            "started_at": started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "machine": {**machine_before, "load_average_after": machine()["load_average"]},
            "model": str(matcher_model_path()),
            "threshold": THRESHOLD,
            "repeat": args.repeat,
            "statistic": "median",
            "results": results,
        }
        out.write_text(json.dumps(report, indent=2) + "\n")
        load = machine_before["load_average"]
        print(
            f"\nMatching at {customers:,} customers (seed {args.seed}); median of {args.repeat}"
            f" run{'s' if args.repeat > 1 else ''}; {machine_before['cpus']} CPUs"
            + (f", load {load[0]:.2f} at the start" if load else "")
        )
        print(format_table(result), flush=True)
    print(f"\ntime × and memory × are each run ÷ plain Splink. Results: {out}")
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.matching",
        description="Time probabilistic matching (scoring with the shipped model, and training) against plain "
        "Splink end to end on the same profile records, in the same run (see benchmarks/README.md).",
    )
    add_scale_options(parser, DEFAULT_SCALES, "runs of each, reporting the median")
    hidden = argparse.SUPPRESS
    parser.add_argument("--child", choices=tuple(CHILDREN), help=hidden)
    parser.add_argument("--profiles", help=hidden)
    parser.add_argument("--model", help=hidden)
    args = parser.parse_args(argv)
    resolve_scales(args, DEFAULT_SCALES, default_workdir())
    return args


def main(argv: list[str] | None = None) -> int:
    return run_command(
        parse_args(argv),
        "matching",
        child_main,
        run_benchmark,
        (BenchmarkError, ValueError, OSError, RuntimeError),
        ("benchmarks.matching",),
    )


if __name__ == "__main__":
    sys.exit(main())
