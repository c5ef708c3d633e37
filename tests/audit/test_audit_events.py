"""Runs that change data leave their line in the audit log: here, extractions (what landed, and quarantine
reasons without the values that caused them)."""

from __future__ import annotations

import re

import pytest
from tessera_simulator.demo import source_connections

from tessera.audit import audit_entries, audit_log_path, verify_audit_log
from tessera.collect import extract_source
from tests.sources import TOKEN, running_sources

pytestmark = pytest.mark.integration


def test_each_extraction_is_audited_without_pii(home, monkeypatch):
    for name in ("AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_TASK_ID", "AIRFLOW_CTX_DAG_RUN_ID"):
        monkeypatch.delenv(name, raising=False)  # a DAG run earlier in this worker process leaves them set
    with running_sources(home.simulator, customers=150) as sources:
        for key, value in source_connections(home, sources.crm_url, sources.esp_url, TOKEN).items():
            monkeypatch.setenv(key, value)
        results = extract_source("crm", None, sources.sim.clock, home=home) + extract_source(
            "email", None, sources.sim.clock, home=home
        )

    audited = audit_entries(home, "extraction")
    assert [(e["details"]["stream"], e["details"]["batch_id"]) for e in audited] == [
        (f"{r.source}.{r.stream}", r.batch_id) for r in results
    ]
    for entry, result in zip(audited, results, strict=True):
        assert (entry["details"]["rows"], entry["details"]["quarantined"]) == (result.rows, result.quarantined)
        assert sum(entry["details"]["reasons"].values()) == sum(result.reasons.values())
        assert entry["actor"].startswith(("user:", "uid:"))
    assert sum(r.rows for r in results) > 0
    assert verify_audit_log(home) == len(results)
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", audit_log_path(home).read_text())
