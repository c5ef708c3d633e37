"""One package per source system; each declares `SOURCE` in its `__init__.py` (see `connectors/registry.py`)."""
