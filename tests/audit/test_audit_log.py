"""The audit log appends whole lines from concurrent writers, chains them, and refuses plain PII."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from tessera.audit import AuditLogTampered, audit_entries, audit_log_path, record_event, verify_audit_log
from tessera.home import TesseraHome


def test_entries_chain_and_name_their_actor(home: TesseraHome, monkeypatch) -> None:
    for name in ("AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_TASK_ID", "AIRFLOW_CTX_DAG_RUN_ID"):
        monkeypatch.delenv(name, raising=False)  # a DAG run earlier in this worker process leaves them set
    record_event(home, "publication", customers=12)
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "tessera_transform")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "publish")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "scheduled__2026-01-01")
    record_event(home, "sync", segment="lapsed_vips", destination="ads", added=3)

    first, second = audit_entries(home)
    assert first["actor"].startswith(("user:", "uid:"))
    assert second["actor"] == "airflow:tessera_transform.publish run scheduled__2026-01-01"
    assert [e["seq"] for e in (first, second)] == [1, 2]
    assert second["details"] == {"segment": "lapsed_vips", "destination": "ads", "added": 3}
    assert verify_audit_log(home) == 2
    assert [e["event"] for e in audit_entries(home, "sync")] == ["sync"]


@pytest.mark.parametrize("change", ["edit", "delete", "insert"])
def test_a_changed_line_breaks_the_chain(home: TesseraHome, change: str) -> None:
    for n in range(3):
        record_event(home, "run", n=n)
    path = audit_log_path(home)
    lines = path.read_text().splitlines()
    if change == "edit":
        lines[1] = lines[1].replace('"n": 1', '"n": 7')
    elif change == "delete":
        del lines[1]
    else:
        lines.insert(1, json.dumps({**json.loads(lines[1]), "details": {"n": 9}}))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditLogTampered, match="line 2|line 3"):
        verify_audit_log(home)


@pytest.mark.parametrize("value", ["ada.lovelace@example.org", "+442071838750"])
def test_plain_pii_is_refused(home: TesseraHome, value: str) -> None:
    with pytest.raises(ValueError, match="plain e-mail address or phone number"):
        record_event(home, "erasure", identifier=value)
    assert audit_entries(home) == []


def _append(root: str, writer: int) -> None:
    for n in range(25):
        record_event(TesseraHome(Path(root)), "run", writer=writer, n=n)


def test_concurrent_writers_keep_the_chain(home: TesseraHome) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append, args=(str(home.root), w)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert verify_audit_log(home) == 75
    assert sorted((e["details"]["writer"], e["details"]["n"]) for e in audit_entries(home)) == [
        (w, n) for w in range(3) for n in range(25)
    ]
