"""The e-mail destination against a real SMTP server on loopback: the message, its export, and failures."""

from __future__ import annotations

import csv
import io
import re
import socket
from email import policy
from email.parser import BytesParser

import pytest
from tessera_simulator.destinations.smtp_server import serve_smtp

from connectors.connection import ConnectionInfo
from connectors.destinations.base import DestinationError, Member, Mode, Snapshot, SyncRun
from connectors.destinations.email import EmailDestination

pytestmark = pytest.mark.integration

RUN = SyncRun(segment="lapsed_vips", destination="marketing_mail", mode=Mode.SNAPSHOT, run_id="20261129T060000Z")
FAST_RETRIES = {"max_attempts": 3, "initial_wait_seconds": 0.01, "max_wait_seconds": 0.05, "timeout_seconds": 5}
TO = ["maria@example.com", "growth-team@example.com"]
SENDER = "tessera@cdp.example.com"
COLUMNS = ["first_name", "lifetime_value"]
MEMBERS = [
    Member("c1", {"email": "ada@example.com", "phone": "+447700900123"}, {"first_name": "Ada", "lifetime_value": 99.5}),
    Member("c2", {"email": "bo@example.com"}, {"first_name": 'Bo "The Boss", Jr.', "lifetime_value": 80}),
    Member("c3", {"phone": "+14155550100"}, {"first_name": "Zoë", "lifetime_value": None}),
]
SNAPSHOT = Snapshot(members=MEMBERS, columns=COLUMNS, added=2, removed=1, previous_size=2)
EXPORT = [
    ["customer_id", "email", "phone", "first_name", "lifetime_value"],
    ["c1", "ada@example.com", "+447700900123", "Ada", "99.5"],
    ["c2", "bo@example.com", "", 'Bo "The Boss", Jr.', "80"],
    ["c3", "", "+14155550100", "Zoë", ""],
]


@pytest.fixture
def smtp(tmp_path):
    with serve_smtp(tmp_path / "mail") as server:
        yield server


def destination(
    host: str, port: int, login: str | None = None, password: str | None = None, run: SyncRun = RUN, **extra
) -> EmailDestination:
    conn = ConnectionInfo(
        "tessera_dest_marketing_mail", "smtp", host=host, port=port, login=login, password=password,
        extra={"kind": "email", "to": ", ".join(TO), "from": SENDER, **FAST_RETRIES, **extra},
    )  # fmt: skip
    return EmailDestination(conn, run)


def deliver(dest: EmailDestination, snapshot: Snapshot = SNAPSHOT) -> str:
    try:
        return dest.deliver_snapshot(snapshot)
    finally:
        dest.close()


def test_the_message_reaches_marketers_with_the_export_attached(smtp, tmp_path):
    message_id = deliver(destination(smtp.host, smtp.port))

    [mail] = smtp.received()
    assert (mail.mail_from, mail.recipients) == (SENDER, tuple(TO))
    message = mail.message
    assert message["Subject"] == "Segment lapsed_vips: 3 members (+2 / -1 since the last delivery)"
    assert (message["From"], message["To"]) == (SENDER, ", ".join(TO))
    assert message["Message-ID"] == message_id
    body = message.get_body(("plain",)).get_content()
    assert "Segment lapsed_vips has 3 members." in body
    assert "Since the last delivery (2 members): 2 added, 1 removed." in body
    assert "Run: 20261129T060000Z" in body
    assert "Attached: lapsed_vips-20261129T060000Z.csv" in body
    [attachment] = message.iter_attachments()
    assert (attachment.get_filename(), attachment.get_content_type()) == (
        "lapsed_vips-20261129T060000Z.csv",
        "text/csv",
    )
    data = attachment.get_payload(decode=True)
    assert list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""))) == EXPORT

    [eml] = (tmp_path / "mail").glob("*.eml")  # what the demo points marketers to
    assert BytesParser(policy=policy.default).parsebytes(eml.read_bytes())["Message-ID"] == message_id


def test_the_message_id_is_the_same_for_a_repeated_run_only(smtp):
    """A delivery sent again (its answer lost) is recognisably the same message; another run is not."""
    first = deliver(destination(smtp.host, smtp.port))
    again = deliver(destination(smtp.host, smtp.port))
    next_run = SyncRun(RUN.segment, RUN.destination, RUN.mode, "20261130T060000Z")
    other = destination(smtp.host, smtp.port, run=next_run).message_id()

    assert first == again != other
    assert re.fullmatch(r"<20261129T060000Z\.[0-9a-f]{16}@cdp\.example\.com>", first)
    assert [m["Message-ID"] for m in smtp.messages()] == [first, first]


def test_a_large_export_is_linked_not_attached(smtp):
    members = [Member(f"c{i:04d}", {"email": f"member{i}@example.com"}, {"first_name": "X"}) for i in range(1234)]
    snapshot = Snapshot(members=members, columns=["first_name"], added=1234, removed=0, previous_size=None)
    dest = destination(smtp.host, smtp.port, attach_max_bytes=10_000, link_base="https://files.example.com/exports/")

    deliver(dest, snapshot)

    [message] = smtp.messages()
    assert message["Subject"] == "Segment lapsed_vips: 1,234 members (first delivery)"
    assert list(message.iter_attachments()) == []
    body = message.get_content()
    assert "Segment lapsed_vips has 1,234 members." in body
    assert "This is the first delivery of segment lapsed_vips to marketing_mail." in body
    assert "is not attached: it is over this destination's 9.8 KB attachment limit" in body
    assert "Download it: https://files.example.com/exports/lapsed_vips/20261129T060000Z/lapsed_vips.csv" in body


def test_a_transient_refusal_is_retried_and_the_message_arrives_once(smtp):
    smtp.fail_next(times=1, code=451)
    dest = destination(smtp.host, smtp.port)

    deliver(dest)

    assert [m["Subject"] for m in smtp.messages()] == [
        "Segment lapsed_vips: 3 members (+2 / -1 since the last delivery)"
    ]
    assert dest.retried == 1


def test_a_permanent_refusal_stops_the_sync_naming_server_and_recipients(smtp):
    smtp.fail_next(times=1, code=550)
    dest = destination(smtp.host, smtp.port)

    with pytest.raises(DestinationError) as failure:
        deliver(dest)

    assert str(failure.value) == (
        f"email destination marketing_mail: smtp://{smtp.host}:{smtp.port} refused the message for segment "
        f"lapsed_vips run 20261129T060000Z to {', '.join(TO)}: 550 5.7.1 Message refused by policy"
    )
    assert smtp.messages() == [] and dest.retried == 0


def test_transient_refusals_that_outlast_the_retries_stop_the_sync(smtp):
    smtp.fail_next(times=FAST_RETRIES["max_attempts"], code=451)

    with pytest.raises(DestinationError, match=r"failed after 3 attempts: 451 4\.3\.0"):
        deliver(destination(smtp.host, smtp.port))

    assert smtp.messages() == []


def test_an_unreachable_server_is_retried_then_reported():
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        dest = destination(*closed.getsockname())
        with pytest.raises(DestinationError, match=r"via smtp://127\.0\.0\.1:\d+ failed after 3 attempts: Conn"):
            deliver(dest)
    assert dest.retried == 2


def test_smtp_auth_logs_in_and_a_wrong_password_is_final():
    with serve_smtp(username="tessera", password="app-password") as server:
        deliver(destination(server.host, server.port, login="tessera", password="app-password"))
        assert len(server.messages()) == 1

        wrong = destination(server.host, server.port, login="tessera", password="nope")
        with pytest.raises(DestinationError, match="535 5.7.8 Authentication credentials invalid"):
            deliver(wrong)
        assert len(server.messages()) == 1 and wrong.retried == 0

        with pytest.raises(DestinationError, match="530 5.7.0 Authentication required"):
            deliver(destination(server.host, server.port))


def test_starttls_on_a_server_without_tls_is_refused_not_sent_in_clear(smtp):
    with pytest.raises(DestinationError, match="SMTPNotSupportedError: STARTTLS extension not supported by server"):
        deliver(destination(smtp.host, smtp.port, starttls="true"))
    assert smtp.messages() == []


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"to": ""}, "extra 'to' must be one or more e-mail addresses"),
        (
            {"to": "maria@example.com, not-an-address"},
            "extra 'to' must be one or more e-mail addresses: not-an-address",
        ),
        ({"starttls": "sometimes"}, "extra 'starttls' must be true or false, got 'sometimes'"),
        ({"attach_max_bytes": "5MB"}, "extra 'attach_max_bytes' must be int, got '5MB'"),
    ],
)
def test_a_misconfigured_connection_is_named_in_the_error(extra, error):
    with pytest.raises(DestinationError) as failure:
        destination("smtp.example.com", 25, **extra)
    assert str(failure.value).startswith("email destination marketing_mail: connection 'tessera_dest_marketing_mail'")
    assert error in str(failure.value)
