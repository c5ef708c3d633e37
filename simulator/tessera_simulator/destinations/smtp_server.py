"""An SMTP server on loopback that keeps what it receives, for tests and for the demo's marketers.

The `email` destination speaks plain SMTP, so this server does too (aiosmtpd, on a free loopback port in
a background thread): the client's transaction, its envelope and its message are real. Each accepted
message is kept in memory and, when given a `maildir`, also written there as a `.eml` file a mail client
opens. Tests make the next transactions fail with a reply code (451: try again later; 550: refused) to
prove how the client tells a transient refusal from a final one.

    with serve_smtp(tmp_path / "mail") as server:
        server.fail_next(times=1, code=451)
        ...  # send to server.host:server.port
        [message] = server.messages()
"""

from __future__ import annotations

import asyncio
import hmac
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

START_TIMEOUT_S = 15.0
HOSTNAME = "tessera-smtp.localhost"
#: What a mail server says when it refuses a transaction, by reply code (RFC 5321, RFC 3463).
REPLIES = {
    421: "421 4.3.2 Service not available, closing transmission channel",
    450: "450 4.2.1 Mailbox unavailable, try again later",
    451: "451 4.3.0 Local error in processing, try again later",
    452: "452 4.3.1 Insufficient system storage",
    550: "550 5.7.1 Message refused by policy",
    552: "552 5.3.4 Message too big for system",
    554: "554 5.6.0 Transaction failed",
}


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted transaction: the envelope's sender and recipients, and the message."""

    mail_from: str
    recipients: tuple[str, ...]
    message: EmailMessage


class SmtpServer:
    """The running server: where it listens, what it accepted, and the failures to serve next."""

    def __init__(self, maildir: Path | None = None, username: str | None = None, password: str | None = None):
        self.maildir = Path(maildir) if maildir else None
        self.username, self.password = username, password
        self._lock = threading.Lock()
        self._received: list[ReceivedMail] = []
        self._failures: list[int] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.host, self.port = self._sock.getsockname()[:2]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-server", daemon=True)
        self._server: asyncio.Server | None = None

    def received(self) -> list[ReceivedMail]:
        """Every accepted transaction, oldest first."""
        with self._lock:
            return list(self._received)

    def messages(self) -> list[EmailMessage]:
        """Every accepted message, oldest first."""
        return [mail.message for mail in self.received()]

    def fail_next(self, times: int = 1, code: int = 451) -> None:
        """Refuse the next `times` messages at the end of DATA with `code` (4xx transient, 5xx final)."""
        if code not in REPLIES:
            raise ValueError(f"code must be one of {', '.join(map(str, REPLIES))}, got {code!r}")
        with self._lock:
            self._failures += [code] * times

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """aiosmtpd's hook at the end of DATA: accept and keep the message, or serve a queued failure."""
        with self._lock:
            if self._failures:
                return REPLIES[self._failures.pop(0)]
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        mail = ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), message)
        if self.maildir:
            self._write_eml(envelope.content)
        with self._lock:
            self._received.append(mail)
        return "250 2.0.0 OK: queued"

    def _write_eml(self, content: bytes) -> None:
        """Write the message as a `.eml` file, complete or not at all (a mail client may be watching)."""
        self.maildir.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
        temporary = self.maildir / f".{name}.part"
        temporary.write_bytes(content)
        os.replace(temporary, self.maildir / name)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        """aiosmtpd's hook at MAIL FROM: with a user set, only a logged-in client may send (as a submission
        server does; aiosmtpd's own `auth_required` would also demand TLS, which this server has not)."""
        if self.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and hmac.compare_digest(auth_data.password.decode(), self.password or "")
        )
        return AuthResult(success=ok, handled=False)

    def _protocol(self) -> SMTP:
        return SMTP(self, hostname=HOSTNAME, loop=self._loop, auth_require_tls=False, authenticator=self._authenticate)

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._loop.create_server(self._protocol, sock=self._sock), self._loop)
        try:
            self._server = future.result(START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise

    async def _shut(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shut(), self._loop).result(START_TIMEOUT_S)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_TIMEOUT_S)
        self._loop.close()
        self._sock.close()


@contextmanager
def serve_smtp(
    maildir: Path | None = None, *, username: str | None = None, password: str | None = None
) -> Iterator[SmtpServer]:
    """Serve SMTP on a free loopback port until the block exits; with `username`, clients must log in."""
    server = SmtpServer(maildir, username, password)
    server.start()
    try:
        yield server
    finally:
        server.stop()
