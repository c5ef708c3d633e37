"""No usage data leaves the machine: the transform DAG, run the way the embedded default runs it, opens no
connection and looks up no host name beyond loopback (Cosmos's, dbt's and GX's telemetry would).

The guard is a Python audit hook on `socket.connect` and `socket.getaddrinfo`: it sees every connection Python
code opens (httpx, requests, urllib), which is how Cosmos, dbt and GX send usage data."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from tessera.logs import task_log_path
from tessera.telemetry import TELEMETRY_OFF
from tests.lake_writer import land, land_empty_streams

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_recording: list[list[str]] = []
#: This machine's own names: Airflow looks its host name up to record where a task ran.
_OWN_NAMES = {socket.gethostname(), socket.getfqdn()}


def _is_local(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host is None or host in ("localhost", "") or host in _OWN_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple) -> None:
    if not _recording:
        return
    if event == "socket.connect":
        sock, address = args[0], args[1]
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            _recording[-1].append(f"connect {address!r}")
    elif event == "socket.getaddrinfo" and not _is_local(args[0]):
        _recording[-1].append(f"getaddrinfo {args[0]!r}")


sys.addaudithook(_audit)  # audit hooks stay for the life of the process; `_recording` switches this one on


@contextmanager
def outbound_connections() -> Iterator[list[str]]:
    """Every non-loopback connection or host lookup made in this process while the block runs."""
    seen: list[str] = []
    _recording.append(seen)
    try:
        yield seen
    finally:
        _recording.remove(seen)


def test_the_guard_sees_an_outbound_connection_attempt():
    with outbound_connections() as seen:
        with pytest.raises(OSError):
            socket.create_connection(("192.0.2.1", 9), timeout=0.01)  # TEST-NET-1: never routed
        with pytest.raises(OSError):
            socket.getaddrinfo("telemetry.example.invalid", 443)
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()  # loopback: PostgreSQL here
    assert seen == ["getaddrinfo '192.0.2.1'", "connect ('192.0.2.1', 9)", "getaddrinfo 'telemetry.example.invalid'"]


def test_a_transform_run_opens_no_outbound_connection(home, airflow_db, monkeypatch):
    from tessera.airflow_local import configure, run_dag

    configure(home)
    for key, value in TELEMETRY_OFF.items():
        assert os.environ[key] == value
    import cosmos.settings

    assert cosmos.settings.enable_telemetry is False
    day = datetime(2026, 1, 1, 12, tzinfo=UTC)
    contacts = [
        {"contact_id": c, "email": f"{c.lower()}.person@example.com", "phone": f"+4915112345{i:03d}",
         "is_deleted": False, "updated_at": day, "created_at": day}
        for i, c in enumerate(("A", "B", "C"))
    ]  # fmt: skip
    land(home.lake, "crm", "contacts", "20260101T000000Z", contacts)
    land_empty_streams(home.lake)

    with outbound_connections() as seen:
        run_dag("tessera_transform", day)

    assert seen == []
    # The run kept its task logs, one per task, under the home.
    runs = list((home.root / "logs" / "airflow" / "tessera_transform").iterdir())
    assert len(runs) == 1
    producer = task_log_path(home, "tessera_transform", runs[0].name, "dbt.dbt_producer_watcher")
    written = producer.read_text()
    assert "task tessera_transform.dbt.dbt_producer_watcher of run" in written
    assert "golden_customers" in written
    assert (producer.parent / "publish_marts.log").exists()
    for path in (home.root / "logs").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "person@example.com" not in text and "+4915112345" not in text, path
