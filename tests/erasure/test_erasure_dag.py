"""The erasure DAG, run with `dag.test()`, serves a request file: the person is gone, and the file moves to
`done/` holding only the request's hash and counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tessera.erasure.requests_folder import requests_folder
from tests.erasure.byte_scan import occurrences
from tests.erasure.conftest import pick_person

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_dag_serves_a_request_file(erasure_home, airflow_db):
    from tessera.airflow_local import run_dag

    home = erasure_home
    person = pick_person(home)
    folder = requests_folder(home)
    folder.mkdir(parents=True)
    (folder / "ticket-1.json").write_text(json.dumps({"email": person.email}))
    (folder / "ticket-2.json").write_text(json.dumps({"email": "x@y.example", "phone": "+4915760774570"}))

    run_dag("tessera_erasure", datetime(2026, 1, 2, tzinfo=UTC))

    assert sorted(p.name for p in folder.glob("*.json")) == []
    done = json.loads((folder / "done" / "ticket-1.json").read_text())
    assert done["report"]["outcome"] == "erased" and done["report"]["counts"]["lake_raw_rows"] > 0
    assert person.email not in json.dumps(done)
    rejected = (folder / "rejected" / "ticket-2.json").read_text()
    assert "exactly one" in rejected and "x@y.example" not in rejected
    assert occurrences(home.root, person.spellings) == {}
