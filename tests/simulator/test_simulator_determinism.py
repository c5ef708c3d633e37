"""Same config and same calls give the same stores and files, across processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.simulator.conftest import make_sim
from tests.simulator.snapshots import assert_same, snapshot

pytestmark = pytest.mark.unit


def test_two_simulators_with_the_same_seed_build_identical_stores_and_files(tmp_path):
    a, b = make_sim(tmp_path / "a"), make_sim(tmp_path / "b")
    for sim in (a, b):
        sim.initialize()
        sim.advance(2)
    snap_a, snap_b = snapshot(a), snapshot(b)
    assert snap_a["web"] and snap_a["pos:transactions"] and snap_a["ground_truth"]
    assert_same(snap_a, snap_b)


def test_a_different_seed_builds_a_different_world(tmp_path):
    a, b = make_sim(tmp_path / "a", seed=1), make_sim(tmp_path / "b", seed=2)
    a.initialize()
    b.initialize()
    snap_a, snap_b = snapshot(a), snapshot(b)
    assert snap_a["crm.sqlite:contacts"] != snap_b["crm.sqlite:contacts"]
    assert snap_a["web"] != snap_b["web"]


def test_reopening_in_a_new_process_and_advancing_equals_advancing_in_one_process(tmp_path):
    one = make_sim(tmp_path / "one")
    one.initialize()
    one.advance(days=2)

    split = make_sim(tmp_path / "split")
    split.initialize()
    split.advance(days=1)
    script = textwrap.dedent(
        f"""
        from tessera_simulator import Simulator
        sim = Simulator.open({str(tmp_path / "split")!r})
        sim.advance(days=1)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_same(snapshot(one), snapshot(make_sim(tmp_path / "split")))
