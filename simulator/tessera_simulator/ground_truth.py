"""Which source record belongs to which true person, and who lives with whom: the answer keys for identity
resolution.

Only tests and evaluation read `ground_truth.parquet` and `households.parquet`; the pipeline never does.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tessera_simulator.changes import object_values
from tessera_simulator.world import World

SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("stream", pa.string()),
        pa.field("record_id", pa.string()),
        pa.field("person_id", pa.string()),
    ]
)

HOUSEHOLD_SCHEMA = pa.schema([pa.field("person_id", pa.string()), pa.field("household_id", pa.string())])


def build(world: World) -> pa.Table:
    """One row per (record, person); a shared browser has one row per person seen using it."""
    person_ids = object_values(world.persons["person_id"])
    devices = world.devices[world.devices["seen"].to_numpy()]
    parts = [
        ("crm", "contacts", world.contacts["contact_id"], world.contacts["person"]),
        ("email", "subscribers", world.members["subscriber_id"], world.members["person"]),
        ("pos", "loyalty_members", world.loyalty["loyalty_id"], world.loyalty["person"]),
        ("pos", "transactions", world.transactions["transaction_id"], world.transactions["person"]),
        ("web", "visitors", devices["anonymous_id"], devices["person"]),
    ]
    columns: dict[str, list[np.ndarray]] = {name: [] for name in SCHEMA.names}
    for source, stream, ids, people in parts:
        n = len(ids)
        columns["source"].append(np.full(n, source, dtype=object))
        columns["stream"].append(np.full(n, stream, dtype=object))
        columns["record_id"].append(object_values(ids))
        columns["person_id"].append(person_ids[people.to_numpy(dtype="int64")])
    arrays = {k: np.concatenate(v) for k, v in columns.items()}
    order = np.lexsort((arrays["person_id"], arrays["record_id"], arrays["stream"], arrays["source"]))
    return pa.table({k: pa.array(v[order].tolist(), pa.string()) for k, v in arrays.items()}, schema=SCHEMA)


def build_households(world: World) -> pa.Table:
    """One row per person: the household is named after its head's person id, and someone who lives with
    nobody in the world is a household of one (their own id), so members of one household share an id."""
    person_ids = object_values(world.persons["person_id"])
    household = world.persons["household"].to_numpy(dtype="int64")
    head = np.where(household >= 0, household, np.arange(len(household)))
    return pa.table(
        {
            "person_id": pa.array(person_ids.tolist(), pa.string()),
            "household_id": pa.array(person_ids[head].tolist(), pa.string()),
        },
        schema=HOUSEHOLD_SCHEMA,
    )


def write(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read(path: Path) -> pa.Table:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: initialize the simulator first")
    return pq.read_table(path)
