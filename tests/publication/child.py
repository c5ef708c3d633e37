"""The processes the publication tests run and kill: `python -m tests.publication.child <role> <home> …`.

Each announces its progress on stdout, one line per step, which the test waits for.

- `reader HOME`: opens the published warehouse (`tessera.warehouse.connect`) once, prints `ready`, then
  answers each SQL line on stdin with its single value, as JSON, on the same connection.
- `build HOME GENERATION CUSTOMERS PADDING [pause]`: a write-heavy build on the working file; with `pause`
  it stops after replacing customer_xref (file still open) until a line arrives on stdin, then finishes
  the marts, closes the file and publishes.
- `publish HOME`: `publish_warehouse`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

from tessera.home import TesseraHome
from tessera.publication import publish_warehouse
from tessera.warehouse import connect
from tests.publication.toy_build import replace_golden, replace_xref, write_padding


def say(line: str) -> None:
    print(line, flush=True)


def reader(home: TesseraHome) -> None:
    with connect(home) as con:
        say("ready")
        for sql in sys.stdin:
            say(json.dumps(con.execute(sql).fetchone()[0]))


def build(home: TesseraHome, generation: int, customers: int, padding: int, pause: bool) -> None:
    con = duckdb.connect(str(home.warehouse))
    say("writing")
    write_padding(con, padding)
    replace_xref(con, generation, customers)
    say("xref replaced")
    if pause:
        sys.stdin.readline()
    replace_golden(con, generation, customers)
    con.close()
    say("built")
    publish_warehouse(home)
    say("published")


def main(role: str, root: str, *args: str) -> None:
    home = TesseraHome(Path(root))
    if role == "reader":
        reader(home)
    elif role == "build":
        generation, customers, padding = (int(a) for a in args[:3])
        build(home, generation, customers, padding, pause=args[3:] == ("pause",))
    elif role == "publish":
        publish_warehouse(home)
        say("published")
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
