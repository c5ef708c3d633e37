"""Child processes for the publication tests: started per test, always killed (by pid) at its end."""

from __future__ import annotations

import pytest

from tests.publication.processes import Child


@pytest.fixture
def children():
    """Start children with `children(role, *args)`."""
    started: list[Child] = []

    def start(role: str, *args: object) -> Child:
        child = Child(role, *args)
        started.append(child)
        return child

    yield start
    for child in started:
        child.close()
