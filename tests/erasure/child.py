"""A process that serves one erasure request and stops, waiting, between the lake and the warehouse, so that
a test can kill it there by pid: `python -m tests.erasure.child <kind> <value>` (TESSERA_HOME set)."""

from __future__ import annotations

import sys

import tessera.erasure.service as service
from tessera.erasure import forget, parse_request
from tessera.home import tessera_home


def main(kind: str, value: str) -> None:
    erase_from_working = service.erase_from_working

    def after_the_lake(*args, **kwargs):
        print("lake erased", flush=True)
        sys.stdin.readline()  # the test kills the process here
        return erase_from_working(*args, **kwargs)

    service.erase_from_working = after_the_lake
    report = forget(tessera_home(), parse_request(kind, value))
    print("done", report.outcome, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
