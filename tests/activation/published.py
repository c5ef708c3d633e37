"""A published warehouse for activation tests: golden customers, suppressions and segments, as a build
that passed its checks leaves them (`$TESSERA_HOME/published/warehouse.duckdb`), swapped in atomically."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from tessera.home import TesseraHome
from tessera.publication import published_path


@dataclass(frozen=True)
class Customer:
    customer_id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    marketing_consent: bool = True
    lifetime_value: float = 0.0
    last_order_at: datetime | None = None

    def but(self, **changes) -> Customer:
        return replace(self, **changes)


@dataclass
class World:
    customers: dict[str, Customer] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)
    #: segment -> rows (each a dict with at least customer_id)
    segments: dict[str, list[dict]] = field(default_factory=dict)

    def members(self, segment: str, *, marketing: bool = True) -> dict[str, Customer]:
        """Who a destination of the segment must hold: its consented, unsuppressed members."""
        keys = [row["customer_id"] for row in self.segments[segment] if row["customer_id"] in self.customers]
        return {
            key: self.customers[key]
            for key in keys
            if not marketing or (self.customers[key].marketing_consent and key not in self.suppressed)
        }


def people(n: int, start: int = 0) -> dict[str, Customer]:
    return {
        f"cus_{i:016x}": Customer(
            f"cus_{i:016x}",
            email=f"person{i}@mailhost.net",
            phone=f"+4477009{i:05d}" if i % 3 else None,
            first_name=f"Name{i}",
            last_name=f"Surname{i}",
            lifetime_value=100.0 + i,
            last_order_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
        )
        for i in range(start, start + n)
    }


def publish(home: TesseraHome, world: World) -> None:
    path = published_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".building")
    partial.unlink(missing_ok=True)
    con = duckdb.connect(str(partial))
    try:
        con.execute("create schema marts; create schema segments")
        golden = pa.Table.from_pylist(
            [vars(c) for c in world.customers.values()],
            schema=pa.schema(
                [
                    ("customer_id", pa.string()),
                    ("email", pa.string()),
                    ("phone", pa.string()),
                    ("first_name", pa.string()),
                    ("last_name", pa.string()),
                    ("marketing_consent", pa.bool_()),
                    ("lifetime_value", pa.float64()),
                    ("last_order_at", pa.timestamp("us", tz="UTC")),
                ]
            ),
        )
        con.register("golden", golden)
        con.execute("create table marts.golden_customers as select * from golden")
        suppressions = pa.table(
            {
                "customer_id": pa.array(sorted(world.suppressed), pa.string()),
                "reason": ["suppression_list"] * len(world.suppressed),
            }
        )
        con.register("suppressions", suppressions)
        con.execute("create table marts.customer_suppressions as select * from suppressions")
        for name, rows in world.segments.items():
            table = pa.Table.from_pylist(rows) if rows else pa.table({"customer_id": pa.array([], pa.string())})
            con.register("segment", table)
            con.execute(f"create table segments.{name} as select * from segment")
            con.unregister("segment")
    finally:
        con.close()
    os.replace(partial, path)
