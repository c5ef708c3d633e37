"""Read a simulator directory's stores and files back, for comparing worlds in tests."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from tessera_simulator import Simulator
from tessera_simulator.pos import TABLES as POS_TABLES


def sqlite_rows(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def pos_rows(url: str, table: str) -> list[tuple]:
    """POS rows in key order, typed (datetimes, Decimal money) so sqlite and PostgreSQL compare."""
    tbl = POS_TABLES[table]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.select(tbl).order_by(tbl.c[0]))]
    finally:
        engine.dispose()


def files(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def web_lines(root: Path) -> list[tuple[str, str]]:
    """Every line of every dropped file, as (file name, line)."""
    out = []
    for path in sorted(root.rglob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            out += [(path.relative_to(root).as_posix(), line.rstrip("\n")) for line in fh]
    return out


def web_events(root: Path) -> list[dict]:
    """The lines that parse as JSON objects."""
    events = []
    for _, line in web_lines(root):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def snapshot(sim: Simulator) -> dict[str, object]:
    """Everything a source reader could see, plus ground truth and state."""
    out: dict[str, object] = {}
    for name, tables in (
        ("crm.sqlite", ("contacts", "simulator_applied_days")),
        ("esp.sqlite", ("members", "events", "simulator_applied_days")),
    ):
        for table in tables:
            out[f"{name}:{table}"] = sqlite_rows(sim.sim_dir / name, f"select * from {table} order by 1")
    for table in ("loyalty_members", "transactions"):
        out[f"pos:{table}"] = pos_rows(sim.pos_url, table)
    out["web"] = files(sim.sim_dir / "web")
    out["web_pending"] = files(sim.sim_dir / "web_pending")
    out["ground_truth"] = sim.ground_truth().to_pylist()
    out["state"] = json.loads((sim.sim_dir / "state.json").read_text())
    return out


def assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key], f"{key} differs"
