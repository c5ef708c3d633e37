"""Training the person matcher (`tessera train-matcher`) and where its model file lives.

Daily runs score with the saved model (`dbt_project/matcher/person_model.json`) and never train.
Training is a deliberate step: on the profile records of the current warehouse (`int_profile_records`),
or on a fresh simulated world. Each run writes the next version of the file; review the diff of
the m and u values before committing it, as you would any change to matching rules.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pyarrow as pa

from tessera.home import TesseraHome
from tessera.resources import matcher_model_path, nicknames_path

log = logging.getLogger(__name__)

#: The model that holds the profile records, and the dbt selection that builds it from the lake.
PROFILE_MODEL = "int_profile_records"
PROFILE_SELECTION = f"+{PROFILE_MODEL}"


def profile_streams(home: TesseraHome) -> dict[str, tuple[str, ...]]:
    """The lake streams `int_profile_records` reads, by source, from dbt's lineage (`dbt ls`)."""
    from tessera.dbt_runner import run_dbt

    listed = run_dbt(["ls", "--select", PROFILE_SELECTION, "--resource-type", "source", "--output", "name"], home)
    streams: dict[str, tuple[str, ...]] = {}
    for name in sorted(listed.result):
        source, _, stream = name.partition(".")
        streams[source] = (*streams.get(source, ()), stream)
    return streams


def warehouse_profile_records(home: TesseraHome) -> pa.Table:
    """The profile records of every source, as matching reads them, from this home's `int_profile_records`."""
    from tessera.warehouse import connect_working
    from transforms.identity.matching import matching_records_sql

    with connect_working(home) as con:
        (found,) = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'intermediate' and table_name = ?",
            [PROFILE_MODEL],
        ).fetchall()[0]
        if not found:
            raise FileNotFoundError(
                f"the warehouse {home.warehouse} has no table intermediate.{PROFILE_MODEL}: run `tessera transform` first"
            )
        return con.sql(matching_records_sql(f"intermediate.{PROFILE_MODEL}")).to_arrow_table()


def simulated_profile_records(customers: int, seed: int, workdir: Path) -> pa.Table:
    """Profile records of a fresh simulated world, landed by the connectors and normalised by dbt staging."""
    from tessera_simulator.demo import DemoSettings, simulated_sources

    from tessera.collect import extract_source
    from tessera.dbt_runner import run_transform

    home = TesseraHome(workdir)
    log.info("simulating %d people (seed %d) in %s", customers, seed, workdir)
    with simulated_sources(home, DemoSettings(customers=customers, days=0, seed=seed)) as sim:
        for source, streams in profile_streams(home).items():
            for result in extract_source(source, None, sim.clock, streams=streams, home=home):
                log.info("%s", result.summary())
    run_transform(home, select=PROFILE_SELECTION)
    return warehouse_profile_records(home)


def next_version(path: Path) -> int:
    """One more than the version of the model at `path` (1 when there is none)."""
    from transforms.identity.matching import MatcherModel

    return MatcherModel.load(path).version + 1 if path.exists() else 1


def train_matcher(
    home: TesseraHome,
    *,
    simulate: int | None = None,
    seed: int = 42,
    out: Path | None = None,
):
    """Train on the warehouse's profile records (or a simulated world of `simulate` people) and save the model."""
    from transforms.identity.matching import read_nicknames, train

    out = out or matcher_model_path()
    if simulate is not None:
        if simulate < 100:
            raise ValueError(f"--simulate needs at least 100 people, got {simulate}")
        with tempfile.TemporaryDirectory(prefix="tessera-train-") as tmp:
            records = simulated_profile_records(simulate, seed, Path(tmp))
        description = (
            f"simulated world: {simulate:,} people, simulator seed {seed}; {records.num_rows:,} profile records"
        )
    else:
        records = warehouse_profile_records(home)
        description = f"warehouse {home.warehouse}: {records.num_rows:,} profile records"
    model = train(
        records,
        read_nicknames(nicknames_path()),
        seed=seed,
        training_data=description,
        version=next_version(out),
    )
    model.save(out)
    log.info("matcher model version %d written to %s", model.version, out)
    return model
