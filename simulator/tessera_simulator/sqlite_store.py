"""The sqlite files behind the CRM and email APIs: connection settings and bulk writes.

WAL mode lets the API servers read while `advance()` writes; every day is written in one
transaction with a marker row, so a day interrupted half-way is redone, never doubled.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tessera_simulator.changes import RowChanges, python_rows

APPLIED_DAYS_DDL = "CREATE TABLE IF NOT EXISTS simulator_applied_days (day TEXT PRIMARY KEY)"


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def create_schema(path: Path, ddl: str) -> None:
    conn = connect(path)
    try:
        conn.executescript(ddl + ";\n" + APPLIED_DAYS_DDL + ";")
    finally:
        conn.close()


def apply_changes(conn: sqlite3.Connection, changes: list[RowChanges], marker: str | None) -> bool:
    """Write all changes in one transaction; with a marker, skip a day already written."""
    with conn:
        if marker is not None:
            if conn.execute("SELECT 1 FROM simulator_applied_days WHERE day = ?", (marker,)).fetchone():
                return False
            conn.execute("INSERT INTO simulator_applied_days (day) VALUES (?)", (marker,))
        for change in changes:
            if len(change.inserts):
                cols = list(change.inserts.columns)
                sql = f"INSERT INTO {change.table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                conn.executemany(sql, python_rows(change.inserts, cols))
            for update in change.updates:
                if not len(update):
                    continue
                cols = [c for c in update.columns if c != change.key]
                sets = ", ".join(f"{c} = ?" for c in cols)
                sql = f"UPDATE {change.table} SET {sets} WHERE {change.key} = ?"
                conn.executemany(sql, python_rows(update, [*cols, change.key]))
    return True
