"""A measured child (see `children.py`): `python -m benchmarks.harness <module>:<function> '<JSON kwargs>'`
calls the function and prints the figures it returns as the last line of output."""

from __future__ import annotations

import importlib
import json
import logging
import sys


def main(argv: list[str]) -> int:
    target, kwargs = argv[0], json.loads(argv[1])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    module, _, function = target.partition(":")
    figures = getattr(importlib.import_module(module), function)(**kwargs)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
