"""The web events connector against the simulator's real file drop."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import timedelta

import pytest

from connectors.sources.web.events import file_hour
from connectors.state import StateStore
from tests.lake_reader import column, landed
from tests.sources import extract_all

pytestmark = pytest.mark.integration


def _dropped_lines(web_dir, before) -> int:
    total = 0
    for path in web_dir.glob("*/*/*/*/*.jsonl.gz"):
        hour = file_hour(path.relative_to(web_dir).as_posix())
        if hour + timedelta(hours=1) <= before:
            with gzip.open(path, "rt") as fh:
                total += sum(1 for line in fh if line.strip())
    return total


def test_every_dropped_line_lands_or_is_quarantined_once_including_late_files(sources, home):
    sim = sources.sim
    web_dir = sim.sim_dir / "web"
    extract_all(sources, "web", home, None, sim.clock)
    for _ in range(3):
        start = sim.clock
        sim.advance(days=1)
        extract_all(sources, "web", home, start, sim.clock)
    events = landed(home.lake, "web", "events")
    quarantined = landed(home.lake, "web", "events", zone="quarantine")
    assert events.num_rows + quarantined.num_rows == _dropped_lines(web_dir, sim.clock)
    manifest = StateStore(home.state, "web", "events").load().current["files"]
    # A file is late when the batch that took it started after the file's hour had passed.
    late = [
        name
        for name, batch in manifest.items()
        if not batch.startswith("upto-") and file_hour(name) < _batch_start(batch)
    ]
    assert late, "the simulator drops some files late; they should land in a later batch"
    assert quarantined.num_rows > 0
    assert all(r.split(":")[-1].isdigit() for r in column(quarantined, "_record_id"))


def _batch_start(batch_id):
    from datetime import UTC, datetime

    return datetime.strptime(batch_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def test_a_rerun_reads_exactly_the_files_of_its_batch(sources, home):
    sim = sources.sim
    extract_all(sources, "web", home, None, sim.clock)
    start = sim.clock
    sim.advance(days=1)
    first = extract_all(sources, "web", home, start, sim.clock)["events"]
    sim.advance(days=1)  # new files appear; the re-run must not take them
    again = extract_all(sources, "web", home, start, start + timedelta(days=1))["events"]
    assert again.rerun and (again.rows, again.quarantined) == (first.rows, first.quarantined)
    assert max(Counter(column(landed(home.lake, "web", "events"), "_record")).values()) == 1


def test_bad_lines_and_damaged_files_are_quarantined_with_file_and_line(sources, home):
    sim = sources.sim
    hour_dir = sim.sim_dir / "web" / sim.clock.strftime("%Y/%m/%d/%H")
    hour_dir.mkdir(parents=True, exist_ok=True)
    good = {"messageId": "m1", "type": "page", "anonymousId": "a1", "timestamp": sim.clock.isoformat()}
    with gzip.open(hour_dir / "events-manual-1.jsonl.gz", "wt") as fh:
        fh.write(json.dumps(good) + "\n" + '{"messageId": "m2", "type": "tra\n' + json.dumps({"type": "page"}) + "\n")
    (hour_dir / "events-manual-2.jsonl.gz").write_bytes(gzip.compress(b'{"messageId": "m3"}\n')[:-12])
    extract_all(sources, "web", home, None, sim.clock)  # older files out of the way
    result = extract_all(sources, "web", home, sim.clock, sim.clock + timedelta(hours=1))["events"]
    assert (result.rows, result.quarantined) == (1, 3)
    q = landed(home.lake, "web", "events", zone="quarantine")
    reasons = dict(zip(column(q, "_record_id"), column(q, "_reason"), strict=True))
    prefix = hour_dir.relative_to(sim.sim_dir / "web").as_posix()
    assert reasons[f"{prefix}/events-manual-1.jsonl.gz:2"].startswith("invalid JSON")
    assert reasons[f"{prefix}/events-manual-1.jsonl.gz:3"] == "missing required fields message_id, occurred_at"
    damaged = [r for k, r in reasons.items() if "events-manual-2" in k]
    assert damaged and damaged[0].startswith("file is damaged")
