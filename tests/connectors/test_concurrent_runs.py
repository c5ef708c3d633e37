"""Two extractions of one stream at once (a backfill next to the scheduled run) take turns on its lock:
in two real processes, the second reads the state only after the first committed, so both batches stay
committed and in the lake, and no record is lost or landed twice."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import Window
from connectors.extraction import extract
from connectors.lake import batch_dir, batch_state
from connectors.state import StateStore
from tests.connectors.memory_stream import MemoryEvents, event
from tests.lake_reader import column, landed

pytestmark = pytest.mark.unit

D1 = datetime(2026, 1, 1, tzinfo=UTC)
D2, D3, D4 = D1 + timedelta(days=1), D1 + timedelta(days=2), D1 + timedelta(days=3)
B1, B2 = "20260101T000000Z", "20260102T000000Z"
WAIT = 60  # seconds: a bound on waits for the other process, never reached when all is well
OVERLAP_PROBE = 2  # seconds the first run, holding the lock, watches for the second reading the state


def records() -> list[dict]:
    """The source's records: six on the first day, three on the second (the same in every process)."""
    return [event(f"a{i}", D1 + timedelta(hours=3 * i)) for i in range(6)] + [
        event(f"b{i}", D2 + timedelta(hours=5 * i)) for i in range(3)
    ]


class _HoldingEvents(MemoryEvents):
    """The first run's stream: while it reads (so while it holds the stream's lock), it lets the second
    run start, then watches whether that run gets to read the state before this one commits."""

    def __init__(self, gates: dict):
        super().__init__(records())
        self.gates = gates

    def fetch(self, since, before):
        self.gates["first_reading"].set()
        if not self.gates["second_started"].wait(WAIT):
            raise TimeoutError("the second run never started")
        if self.gates["second_loaded_state"].wait(OVERLAP_PROBE):
            self.gates["overlap"].set()
        yield from super().fetch(since, before)


def _run(name: str, start: datetime, end: datetime, home: str, gates: dict, results) -> None:
    """One extraction in its own process; the second run says when it starts and when it reads the state."""
    if name == "first":
        stream = _HoldingEvents(gates)
    else:
        load = StateStore.load

        def load_and_tell(self):
            gates["second_loaded_state"].set()
            return load(self)

        StateStore.load = load_and_tell
        stream = MemoryEvents(records())
        gates["second_started"].set()
    result = extract(stream, Window(start, end), lake=Path(home) / "lake", state_dir=Path(home) / "state")
    results.put((name, result.batch_id, result.rows, result.recovered))


def test_two_runs_of_one_stream_at_once_take_turns_and_keep_both_batches(home):
    ctx = multiprocessing.get_context("spawn")
    gates = {n: ctx.Event() for n in ("first_reading", "second_started", "second_loaded_state", "overlap")}
    results = ctx.Queue()
    # The backfill of the first day, then the scheduled run of the second, in the same second.
    first = ctx.Process(target=_run, args=("first", D1, D2, str(home.root), gates, results))
    second = ctx.Process(target=_run, args=("second", D2, D3, str(home.root), gates, results))
    first.start()
    try:
        assert gates["first_reading"].wait(WAIT), "the first run never read its source"
        second.start()
        first.join(WAIT)
        second.join(WAIT)
        assert (first.exitcode, second.exitcode) == (0, 0)
    finally:
        for process in (first, second):
            if process.is_alive():
                process.kill()
    done = {name: rest for name, *rest in (results.get(timeout=WAIT) for _ in range(2))}

    assert not gates["overlap"].is_set(), "the second run read the state while the first held the stream"
    assert done == {"first": [B1, 6, []], "second": [B2, 3, []]}
    state = StateStore(home.state, "email", "events").load()
    assert sorted(state.batches) == [B1, B2] and state.current_batch == B2
    assert {b: batch_state(batch_dir(home.lake, "raw", "email", "events", b)) for b in (B1, B2)} == {
        B1: "pending",
        B2: "pending",
    }
    table = landed(home.lake, "email", "events")
    landed_in = Counter(zip(column(table, "event_id"), column(table, "_batch_id"), strict=True))
    assert landed_in == Counter({(r["id"], B1 if r["_ts"] < D2 else B2): 1 for r in records()})

    # The next scheduled run finds nothing to recover: nothing committed is deleted.
    after = extract(MemoryEvents(records()), Window(D3, D4), lake=home.lake, state_dir=home.state)
    assert (after.recovered, after.rows) == ([], 0)
    assert Counter(column(landed(home.lake, "email", "events"), "event_id")) == Counter(r["id"] for r in records())
