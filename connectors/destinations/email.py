"""The `email` destination: each run mails the segment to marketers, with its export attached when it fits.

Marketers who do not use a warehouse or a BI tool still want the list, and how it moved since last time.
Each run sends one message over SMTP: the subject gives the size and the change, the body the run and the
export, and the export (the same CSV as the `files` destination writes) is attached when it is under
`attach_max_bytes`; otherwise the body says so, and links to it when `link_base` says where the `files`
destination puts it. The `Message-ID` is derived from the segment, the destination and the run, so a
delivery sent again after a lost answer is recognisably the same message.

Messages already sent cannot be recalled. When people ask to be forgotten, the recipients get an erasure
notice at once: what to do (delete them from earlier exports), and `suppressions.csv` attached, with the
SHA-256 of the `customer_id`, `email` and `phone` the exports carried, so it names nobody in clear. Its
`Message-ID` is derived from the people it names, so a notice sent again is recognisably the same one.

Connection: `conn_type` smtp, host, port (25, or 587 with STARTTLS), login and password (optional: SMTP
AUTH), `extra.to` (addresses, a list or comma-separated; required), `extra.from` (`tessera@localhost`),
`extra.starttls` (false), `extra.attach_max_bytes` (5 MB), `extra.link_base` (a URL prefix), and for
transient failures (4xx replies, connections refused or cut) `max_attempts` (4), `initial_wait_seconds`
(1) and `max_wait_seconds` (30); `timeout_seconds` (30) bounds each network wait.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, getaddresses
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from connectors.connection import ConnectionInfo
from connectors.destinations.base import Destination, DestinationError, Mode, Snapshot, Suppression, SyncRun
from connectors.destinations.files import SUPPRESSIONS, encode, export_path, snapshot_table, suppressions_csv

log = logging.getLogger(__name__)

ATTACH_MAX_BYTES = 5 * 1024 * 1024
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_ADDRESS = re.compile(r"[^@\s<>,]+@[^@\s<>,]+")


class _Transient(Exception):
    """A failure that another attempt, on a new connection, may not meet (4xx, refused, cut)."""


class EmailDestination(Destination):
    """One SMTP message per run to the connection's recipients, with the segment's CSV."""

    kind = "email"
    modes = frozenset({Mode.SNAPSHOT})

    def __init__(self, conn: ConnectionInfo, run: SyncRun):
        super().__init__(conn, run)
        self.name = f"email destination {run.destination}"
        try:
            if not conn.host:
                raise ValueError(f"connection {conn.conn_id!r} has no host; set it to the SMTP server")
            self.starttls = _flag(conn, "starttls")
            self.port = conn.port or (587 if self.starttls else 25)
            self.recipients = _addresses(conn, "to", conn.extra.get("to"))
            self.sender = conn.option("from", "tessera@localhost")
            if _addresses(conn, "from", self.sender) != [self.sender]:
                raise ValueError(f"connection {conn.conn_id!r}: extra 'from' must be one bare address")
            self.attach_max_bytes = conn.option("attach_max_bytes", ATTACH_MAX_BYTES, int)
            self.link_base = conn.option("link_base", "") or None
            self.max_attempts = conn.option("max_attempts", 4, int)
            self.initial_wait = conn.option("initial_wait_seconds", 1.0, float)
            self.max_wait = conn.option("max_wait_seconds", 30.0, float)
            self.timeout = conn.option("timeout_seconds", 30.0, float)
        except ValueError as exc:
            raise DestinationError(f"{self.name}: {exc}") from None
        self.server = f"smtp://{conn.host}:{self.port}"
        self._retried = 0

    @property
    def retried(self) -> int:
        """Transactions sent again after a transient failure."""
        return self._retried

    def deliver_snapshot(self, snapshot: Snapshot) -> str:
        """Send the run's message; returns its Message-ID."""
        try:
            export = encode(snapshot_table(snapshot), "csv")
        except ValueError as exc:
            raise DestinationError(f"{self.name}: segment {self.run.segment} run {self.run.run_id}: {exc}") from None
        message = self.compose(snapshot, export)
        self._send(message)
        log.info(
            "%s: sent %s to %d recipient(s)", self.name, message["Message-ID"], len(self.recipients),
            extra={"segment": self.run.segment, "run_id": self.run.run_id, "members": len(snapshot.members)},
        )  # fmt: skip
        return str(message["Message-ID"])

    def compose(self, snapshot: Snapshot, export: bytes) -> EmailMessage:
        """The message: subject and body in the marketer's terms, the export attached if it fits."""
        segment, size = self.run.segment, _members(len(snapshot.members))
        if snapshot.previous_size is None:
            change = "first delivery"
            since = f"This is the first delivery of segment {segment} to {self.run.destination}."
        else:
            change = f"+{snapshot.added:,} / -{snapshot.removed:,} since the last delivery"
            since = (
                f"Since the last delivery ({_members(snapshot.previous_size)}): "
                f"{snapshot.added:,} added, {snapshot.removed:,} removed."
            )
        attachment = f"{segment}-{self.run.run_id}.csv"
        attach = len(export) < self.attach_max_bytes
        if attach:
            export_line = f"Attached: {attachment} ({_size(len(export))})."
        else:
            export_line = (
                f"The export {attachment} ({_size(len(export))}) is not attached: it is over this destination's "
                f"{_size(self.attach_max_bytes)} attachment limit."
            )
            if self.link_base:
                export_line += f"\nDownload it: {self.link_base.rstrip('/')}/{export_path(self.run, 'csv')}"
        message = EmailMessage()
        message["Subject"] = f"Segment {segment}: {size} ({change})"
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = self.message_id()
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
        message.set_content(
            f"Segment {segment} has {size}.\n{since}\n\n{export_line}\n\n"
            f"Run: {self.run.run_id}\nDestination: {self.run.destination}\n"
        )
        if attach:
            message.add_attachment(
                export, maintype="text", subtype="csv", filename=attachment, params={"charset": "utf-8"}
            )
        return message

    def suppress(self, suppression: Suppression) -> str:
        """Send the erasure notice, the people's hashes attached; returns its Message-ID."""
        message = self.compose_suppression(suppression)
        self._send(message)
        log.info(
            "%s: sent erasure notice %s to %d recipient(s)", self.name, message["Message-ID"], len(self.recipients),
            extra={"segment": self.run.segment, "people": len(suppression.people)},
        )  # fmt: skip
        return str(message["Message-ID"])

    def compose_suppression(self, suppression: Suppression) -> EmailMessage:
        """The notice: who must go (by hashes) and from what, in the marketer's terms."""
        segment, count = self.run.segment, len(suppression.people)
        people = "1 person" if count == 1 else f"{count:,} people"
        attachment = suppressions_csv(None, suppression)
        message = EmailMessage()
        message["Subject"] = f"Segment {segment}: erasure notice, delete {people} from earlier exports"
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(usegmt=True)
        hashes = sorted(person.get("customer_id_sha256", "") for person in suppression.people)
        message["Message-ID"] = self.message_id("erasure", *hashes)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(
            f"{people.capitalize()} in earlier deliveries of segment {segment} asked to be forgotten "
            f"(requested {suppression.erased_at}).\n"
            "Delete their rows from every copy of this segment's exports you kept, and from anything you "
            "imported them into. Later deliveries no longer hold them.\n\n"
            f"Attached: {SUPPRESSIONS}, one row per person with the SHA-256 (lower-case hex) of the customer_id, "
            "email and phone the exports carried (empty when they had none): hash your copies' values to find "
            "the rows.\n\n"
            f"Destination: {self.run.destination}\n"
        )
        message.add_attachment(
            attachment, maintype="text", subtype="csv", filename=SUPPRESSIONS, params={"charset": "utf-8"}
        )
        return message

    def message_id(self, *about: str) -> str:
        """The same for every attempt at one run's delivery, and different for any other run or pair; with
        `about` (an erasure notice's people), the same for every notice naming them, whatever the run.

        Short enough that the header is never folded (some parsers keep the fold's space in the id)."""
        parts = about or (self.run.run_id,)
        digest = hashlib.sha256("\0".join((self.run.segment, self.run.destination, *parts)).encode())
        domain = self.sender.rpartition("@")[2] or "localhost"
        label = "erasure" if about else _ID_UNSAFE.sub("-", self.run.run_id)
        return f"<{label}.{digest.hexdigest()[:16]}@{domain}>"

    def _send(self, message: EmailMessage) -> None:
        def before_sleep(state: RetryCallState) -> None:
            self._retried += 1
            log.info("%s: %s: %s; sending again", self.name, self.server, state.outcome.exception())

        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential_jitter(multiplier=self.initial_wait, max=self.max_wait, jitter=self.initial_wait),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            retrying(self._transaction, message)
        except _Transient as exc:
            raise DestinationError(
                f"{self.name}: sending {message['Message-ID']} to {', '.join(self.recipients)} via {self.server} "
                f"failed after {self.max_attempts} attempts: {exc}"
            ) from exc

    def _transaction(self, message: EmailMessage) -> None:
        """One SMTP session: connect, STARTTLS and log in if configured, send, quit."""
        try:
            with smtplib.SMTP(self.conn.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.conn.login:
                    smtp.login(self.conn.login, self.conn.password or "")
                refused = smtp.send_message(message, from_addr=self.sender, to_addrs=self.recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            self._fail(exc.recipients, all(code < 500 for code, _ in exc.recipients.values()))
        except smtplib.SMTPResponseException as exc:
            reply = f"{exc.smtp_code} {_text(exc.smtp_error)}"
            if exc.smtp_code < 500:
                raise _Transient(reply) from exc
            raise self._final(reply) from exc
        except (smtplib.SMTPNotSupportedError, ssl.SSLError) as exc:
            raise self._final(f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:  # refused, reset, timed out, disconnected (SMTPException is an OSError)
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        if refused:
            self._fail(refused, transient=False)

    def _fail(self, refused: dict[str, tuple[int, Any]], transient: bool) -> None:
        """Recipients refused at RCPT; a partial refusal is final, as the others already have the message."""
        reasons = "; ".join(f"{address}: {code} {_text(text)}" for address, (code, text) in refused.items())
        if transient:
            raise _Transient(f"recipients refused: {reasons}")
        raise self._final(f"recipients refused: {reasons}")

    def _final(self, reason: str) -> DestinationError:
        return DestinationError(
            f"{self.name}: {self.server} refused the message for segment {self.run.segment} run {self.run.run_id} "
            f"to {', '.join(self.recipients)}: {reason}"
        )


def _addresses(conn: ConnectionInfo, key: str, value: Any) -> list[str]:
    """E-mail addresses from a list or a comma-separated string (`Name <a@b>` is fine), each checked."""
    items = value if isinstance(value, list | tuple) else [value] if value else []
    pairs = getaddresses([str(item) for item in items])
    bad = [formataddr(pair) for pair in pairs if not _ADDRESS.fullmatch(pair[1])]
    if not pairs or bad:
        problem = f": {', '.join(bad)} is not an address" if bad else ""
        raise ValueError(f"connection {conn.conn_id!r}: extra {key!r} must be one or more e-mail addresses{problem}")
    return [address for _, address in pairs]


def _flag(conn: ConnectionInfo, key: str) -> bool:
    """A boolean option, read from a JSON boolean or from the strings a connection URI gives."""
    value = conn.extra.get(key, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "false", "0", "no", ""):
        return text in ("true", "1", "yes")
    raise ValueError(f"connection {conn.conn_id!r}: extra {key!r} must be true or false, got {value!r}")


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _members(n: int) -> str:
    return f"{n:,} member{'' if n == 1 else 's'}"


def _size(n: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,} bytes"
