"""The `files` destination: each run drops the whole segment as a file in a folder, an SFTP server or a bucket.

Consumers (a BI tool, a partner's import job) poll a location, so what they find must never be half written.
Each run writes `<segment>/<run_id>/<segment>.csv` (or `.parquet`), then `<segment>/<run_id>/manifest.json`,
then `<segment>/latest.json` (a copy of the newest manifest). Files on a folder or an SFTP server are
written under a hidden temporary name and renamed into place; S3 objects appear whole by design. The
manifest goes last, so its presence means the run is complete, and `latest.json` never names a run older
than the one it names already (a retried old run does not move it back). The manifest's `file` is relative
to the destination's root, so it means the same thing in `latest.json`, and its `sha256` and `bytes`
describe exactly the bytes written.

Files already delivered cannot be recalled. When people ask to be forgotten, `<segment>/suppressions.csv`
lists them for the consumer to delete from the copies it kept: one row per person, `erased_at` and the
SHA-256 (lower-case hex) of the `customer_id`, `email` and `phone` the exports carried (empty when they had
none), so it names nobody in clear. The file is cumulative (a new erasure rewrites it with the earlier rows
kept, atomically as every file here) and is never in an export's manifest.

Connection (`conn_type` picks the transport; every kind reads `extra.format`: `csv` (default) or `parquet`):
- `fs`: `extra.path`, the folder.
- `sftp`: host, port (22), login, password or `extra.private_key` (OpenSSH or PEM text; the password
  then decrypts it), `extra.path` (the remote folder; default the login folder), `extra.host_key` (the
  server's public key, `ssh-ed25519 AAAA...`; without it any key is accepted and its fingerprint logged).
- `aws` or `s3`: `extra.bucket`, `extra.prefix`, `extra.endpoint_url` (S3-compatible servers, addressed
  path-style), `extra.region_name`; access key id in login and secret in password (else boto3's default
  credentials).
Connection failures are retried (`max_attempts`, 4; `initial_wait_seconds`, 0.5; `max_wait_seconds`, 10)
with a fresh connection each time; `timeout_seconds` (30) bounds each network wait.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import posixpath
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

import paramiko
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from connectors.connection import ConnectionInfo
from connectors.destinations.base import Destination, DestinationError, Mode, Snapshot, Suppression, SyncRun

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet")
#: Identifier columns come after `customer_id` in this order (others, if any, follow sorted).
IDENTIFIER_ORDER = ("email", "phone")
SUPPRESSIONS = "suppressions.csv"
SUPPRESSION_COLUMNS = ("erased_at", *Suppression.COLUMNS)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]*$")
T = TypeVar("T")


def export_columns(snapshot: Snapshot) -> list[str]:
    """The export's columns: `customer_id`, the identifiers some member has, then the fields in order."""
    present = set().union(*(member.identifiers.keys() for member in snapshot.members))
    identifiers = [name for name in IDENTIFIER_ORDER if name in present]
    identifiers += sorted(present - set(IDENTIFIER_ORDER))
    clash = sorted({"customer_id", *identifiers} & set(snapshot.columns))
    if clash:
        raise ValueError(
            f"field(s) {', '.join(clash)} would repeat an identifier column; rename them in the activation"
        )
    return ["customer_id", *identifiers, *snapshot.columns]


def snapshot_table(snapshot: Snapshot) -> pa.Table:
    """The segment as an Arrow table, one row per member, in `export_columns` order.

    The key and identifiers are strings; each field's type is what its values have in common."""
    fields = set(snapshot.columns)
    arrays = {}
    for name in export_columns(snapshot):
        if name in fields:
            values, kind = [member.fields.get(name) for member in snapshot.members], None
        elif name == "customer_id":
            values, kind = [member.key for member in snapshot.members], pa.string()
        else:
            values, kind = [member.identifiers.get(name) for member in snapshot.members], pa.string()
        try:
            arrays[name] = pa.array(values, kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            types = sorted({type(value).__name__ for value in values if value is not None})
            raise ValueError(
                f"column {name!r} mixes value types ({', '.join(types)}); give it one type in the segment model"
            ) from None
    return pa.table(arrays)


def encode(table: pa.Table, fmt: str) -> bytes:
    """The table as file bytes: CSV is UTF-8 with a header, RFC 4180 quoting and CRLF line ends."""
    buffer = io.BytesIO()
    try:
        if fmt == "csv":
            pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(quoting_style="needed", eol="\r\n"))
        else:
            pq.write_table(table, buffer)
    except pa.ArrowException as exc:  # a value that is not a scalar, say
        raise ValueError(f"cannot write the segment as {fmt}: {exc}") from None
    return buffer.getvalue()


def suppressions_csv(current: bytes | None, suppression: Suppression) -> bytes:
    """The suppressions file with `suppression`'s people added: earlier rows kept, one row per customer
    hash (its first erasure), sorted by time then hash, so writing the same people twice changes nothing."""
    rows: dict[str, dict[str, str]] = {}
    if current:
        table = pa_csv.read_csv(
            io.BytesIO(current),
            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(SUPPRESSION_COLUMNS, pa.string()),
                                                  strings_can_be_null=False),
        )  # fmt: skip
        if tuple(table.column_names) != SUPPRESSION_COLUMNS:
            raise ValueError(f"is not a suppressions file (columns {', '.join(table.column_names)})")
        rows = {row["customer_id_sha256"]: row for row in table.to_pylist()}
    for person in suppression.people:
        row = {"erased_at": suppression.erased_at, **{c: person.get(c) or "" for c in Suppression.COLUMNS}}
        rows.setdefault(row["customer_id_sha256"], row)
    ordered = sorted(rows.values(), key=lambda row: (row["erased_at"], row["customer_id_sha256"]))
    table = pa.table({c: pa.array([row[c] for row in ordered], pa.string()) for c in SUPPRESSION_COLUMNS})
    return encode(table, "csv")


def export_path(run: SyncRun, fmt: str) -> str:
    """Where a run's export lives under a destination's root (also the link the e-mail destination gives)."""
    return f"{run.segment}/{run.run_id}/{run.segment}.{fmt}"


class Transport(Protocol):
    """Where the files go. Paths are relative to the destination's root, with `/` separators."""

    where: str  #: the transport, host and root, for errors and logs

    def write(self, path: str, data: bytes) -> None:
        """Put `data` at `path` so that readers see either the old content or all of the new one."""

    def read(self, path: str) -> bytes | None:
        """The content at `path`, or None if there is none."""

    def url(self, path: str) -> str: ...

    def transient(self, exc: BaseException) -> bool:
        """Whether trying again on a new connection could succeed."""

    def reset(self) -> None:
        """Drop the connection after a failure, so the next call opens a new one."""

    def close(self) -> None: ...


class LocalFolder:
    """A folder on this machine (or a mount): write to a hidden name, fsync, rename into place."""

    def __init__(self, root: Path):
        self.root = root.expanduser().absolute()
        self.where = f"local folder {self.root}"

    def write(self, path: str, data: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with open(temporary, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a crash
        finally:
            os.close(folder)

    def read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except FileNotFoundError:
            return None

    def url(self, path: str) -> str:
        return (self.root / path).as_uri()

    def transient(self, exc: BaseException) -> bool:
        return False

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class Sftp:
    """A folder on an SFTP server (paramiko): upload to a hidden name, then rename over the target.

    The rename uses OpenSSH's `posix-rename@openssh.com`, which replaces an existing file in one step (plain
    SFTP rename refuses to), so `latest.json` is never missing for a reader."""

    def __init__(self, conn: ConnectionInfo, root: str, timeout: float):
        if not conn.host or not conn.login:
            raise ValueError(f"connection {conn.conn_id!r}: an SFTP destination needs host and login")
        self.conn, self.root, self.timeout = conn, root, timeout
        self.port = conn.port or 22
        self.where = f"SFTP {conn.login}@{conn.host}:{self.port}"
        self.host_key = conn.extra.get("host_key")
        private_key = conn.extra.get("private_key")
        self.pkey = _private_key(conn, private_key) if private_key else None
        self._ssh: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._folders: set[str] = set()

    def _client(self) -> paramiko.SFTPClient:
        if self._sftp and self._ssh and self._ssh.get_transport() and self._ssh.get_transport().is_active():
            return self._sftp
        self.reset()
        ssh = paramiko.SSHClient()
        ssh.set_missing_host_key_policy(_HostKeyCheck(self.host_key, self.where))
        ssh.connect(
            self.conn.host, port=self.port, username=self.conn.login, password=self.conn.password, pkey=self.pkey,
            timeout=self.timeout, banner_timeout=self.timeout, auth_timeout=self.timeout,
            channel_timeout=self.timeout, look_for_keys=False, allow_agent=False,
        )  # fmt: skip
        self._ssh = ssh
        self._sftp = ssh.open_sftp()
        self._sftp.get_channel().settimeout(self.timeout)
        return self._sftp

    def _remote(self, path: str) -> str:
        return posixpath.join(self.root, path) if self.root else path

    def _make_folders(self, sftp: paramiko.SFTPClient, folder: str) -> None:
        parts = [part for part in folder.split("/") if part]
        current = "/" if folder.startswith("/") else ""
        for part in parts:
            current = posixpath.join(current, part) if current else part
            if current in self._folders:
                continue
            try:
                sftp.stat(current)
            except FileNotFoundError:
                try:
                    sftp.mkdir(current)
                except OSError:
                    sftp.stat(current)  # made meanwhile by someone else, or the mkdir's own error stands
            self._folders.add(current)

    def write(self, path: str, data: bytes) -> None:
        sftp = self._client()
        target = self._remote(path)
        folder, name = posixpath.split(target)
        self._make_folders(sftp, folder)
        temporary = posixpath.join(folder, f".{name}.{uuid.uuid4().hex}.part")
        with sftp.open(temporary, "wb") as out:
            out.set_pipelined(True)
            out.write(data)
        sftp.posix_rename(temporary, target)

    def read(self, path: str) -> bytes | None:
        sftp = self._client()
        try:
            with sftp.open(self._remote(path), "rb") as source:
                return source.read()
        except FileNotFoundError:
            return None

    def url(self, path: str) -> str:
        return f"sftp://{self.conn.login}@{self.conn.host}:{self.port}/{self._remote(path).lstrip('/')}"

    def transient(self, exc: BaseException) -> bool:
        if isinstance(exc, paramiko.AuthenticationException | HostKeyMismatch):
            return False
        if isinstance(exc, EOFError | ConnectionError | TimeoutError | paramiko.SSHException):
            return True
        # An error the server answered over a live connection (no such folder, permission denied) is final.
        transport = self._ssh.get_transport() if self._ssh else None
        return not (transport and transport.is_active())

    def reset(self) -> None:
        if self._ssh:
            self._ssh.close()
        self._ssh = self._sftp = None

    def close(self) -> None:
        self.reset()


class HostKeyMismatch(Exception):
    """The SFTP server's key is not the one pinned in `extra.host_key`: maybe not the server meant."""


class _HostKeyCheck(paramiko.MissingHostKeyPolicy):
    """Accept the server's key only if it is the pinned one; with none pinned, log its fingerprint."""

    def __init__(self, expected: str | None, where: str):
        self.expected = " ".join(expected.split()[:2]) if expected else None
        self.where = where  # for the log

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        offered = f"{key.get_name()} {key.get_base64()}"
        if self.expected is None:
            log.warning("%s: host key not pinned; set extra.host_key to %r to pin it", self.where, offered)
        elif offered != self.expected:
            raise HostKeyMismatch(
                f"the server's host key {key.get_name()} {key.fingerprint} is not extra.host_key; "
                "if the server's key changed on purpose, update extra.host_key"
            )


def _private_key(conn: ConnectionInfo, text: str) -> paramiko.PKey:
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text), password=conn.password)
        except paramiko.SSHException:
            continue
    raise ValueError(
        f"connection {conn.conn_id!r}: extra.private_key is not an Ed25519, ECDSA or RSA private key (or its password is wrong)"
    )


class S3:
    """A bucket on S3 or an S3-compatible server (boto3, imported only here: it is slow to import).

    One PUT per file, atomic per object. Needs s3:PutObject, and s3:GetObject on `latest.json` (with
    s3:ListBucket, so that a missing `latest.json` is a 404 rather than a 403)."""

    def __init__(self, conn: ConnectionInfo, timeout: float):
        import boto3
        from botocore.config import Config

        self.bucket = conn.extra.get("bucket")
        if not self.bucket:
            raise ValueError(f"connection {conn.conn_id!r}: an S3 destination needs extra.bucket")
        self.prefix = str(conn.extra.get("prefix") or "").strip("/")
        endpoint = conn.extra.get("endpoint_url")
        config = Config(
            retries={"total_max_attempts": 1},  # retried here, with the other transports' settings
            connect_timeout=timeout,
            read_timeout=timeout,
            s3={"addressing_style": "path" if endpoint else "auto"},
        )
        self.s3 = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name=conn.extra.get("region_name"), config=config,
            aws_access_key_id=conn.login or None, aws_secret_access_key=conn.password or None,
        )  # fmt: skip
        self.where = f"S3 bucket {self.bucket} on {endpoint or self.s3.meta.endpoint_url}"

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def write(self, path: str, data: bytes) -> None:
        content_type = {".csv": "text/csv; charset=utf-8", ".json": "application/json"}.get(
            posixpath.splitext(path)[1], "application/octet-stream"
        )
        self.s3.put_object(Bucket=self.bucket, Key=self._key(path), Body=data, ContentType=content_type)

    def read(self, path: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None

    def url(self, path: str) -> str:
        return f"s3://{self.bucket}/{self._key(path)}"

    def transient(self, exc: BaseException) -> bool:
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if isinstance(exc, ClientError):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return status >= 500 or exc.response.get("Error", {}).get("Code") in ("SlowDown", "RequestTimeout")
        return isinstance(exc, BotoConnectionError | HTTPClientError)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self.s3.close()


class FilesDestination(Destination):
    """The whole segment as a CSV or Parquet file per run, with a manifest, in a folder, on SFTP or on S3."""

    kind = "files"
    modes = frozenset({Mode.SNAPSHOT})

    def __init__(self, conn: ConnectionInfo, run: SyncRun):
        super().__init__(conn, run)
        self.name = f"files destination {run.destination}"
        for label, value in (("segment", run.segment), ("run id", run.run_id)):
            if not _SAFE_NAME.match(value):
                raise DestinationError(
                    f"{self.name}: {label} {value!r} cannot name a folder (letters, digits, _ . = -)"
                )
        try:
            self.format = str(conn.option("format", "csv")).lower()
            if self.format not in FORMATS:
                raise ValueError(
                    f"connection {conn.conn_id!r}: extra 'format' must be csv or parquet, got {self.format!r}"
                )
            self.max_attempts = conn.option("max_attempts", 4, int)
            self.initial_wait = conn.option("initial_wait_seconds", 0.5, float)
            self.max_wait = conn.option("max_wait_seconds", 10.0, float)
            self.transport = _transport(conn, conn.option("timeout_seconds", 30.0, float))
        except ValueError as exc:
            raise DestinationError(f"{self.name}: {exc}") from None
        self._retried = 0

    @property
    def retried(self) -> int:
        """Operations tried again on a new connection after a transient failure."""
        return self._retried

    def deliver_snapshot(self, snapshot: Snapshot) -> str:
        """Write the export, its manifest, then `latest.json`; returns the export's URL."""
        try:
            table = snapshot_table(snapshot)
            data = encode(table, self.format)
        except ValueError as exc:
            raise DestinationError(f"{self.name}: segment {self.run.segment} run {self.run.run_id}: {exc}") from None
        file = export_path(self.run, self.format)
        manifest = {
            "segment": self.run.segment,
            "destination": self.run.destination,
            "run_id": self.run.run_id,
            "format": self.format,
            "file": file,
            "rows": table.num_rows,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "columns": table.column_names,
            "added": snapshot.added,
            "removed": snapshot.removed,
            "previous_rows": snapshot.previous_size,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        manifest_bytes = (json.dumps(manifest, indent=2) + "\n").encode()
        self._attempt("writing", file, lambda: self.transport.write(file, data))
        manifest_path = f"{self.run.segment}/{self.run.run_id}/manifest.json"
        self._attempt("writing", manifest_path, lambda: self.transport.write(manifest_path, manifest_bytes))
        self._point_latest(manifest_bytes)
        log.info(
            "%s: delivered %s", self.name, self.transport.url(file),
            extra={"segment": self.run.segment, "run_id": self.run.run_id, "rows": table.num_rows, "bytes": len(data)},
        )  # fmt: skip
        return self.transport.url(file)

    def suppress(self, suppression: Suppression) -> str:
        """Add the people to `<segment>/suppressions.csv` (one row per customer hash); returns its URL."""
        path = f"{self.run.segment}/{SUPPRESSIONS}"
        current = self._attempt("reading", path, lambda: self.transport.read(path))
        try:
            data = suppressions_csv(current, suppression)
        except ValueError as exc:
            raise DestinationError(f"{self.name}: {self.transport.url(path)}: {exc}") from None
        if data != current:
            self._attempt("writing", path, lambda: self.transport.write(path, data))
        log.info(
            "%s: suppression notice in %s", self.name, self.transport.url(path),
            extra={"segment": self.run.segment, "people": len(suppression.people)},
        )  # fmt: skip
        return self.transport.url(path)

    def _point_latest(self, manifest_bytes: bytes) -> None:
        """Copy the manifest to `latest.json`, unless that already names a newer run."""
        latest = f"{self.run.segment}/latest.json"
        current = self._attempt("reading", latest, lambda: self.transport.read(latest))
        try:
            newest = json.loads(current)["run_id"] if current else ""
        except (ValueError, KeyError, TypeError):
            log.warning("%s: %s is not a manifest; replacing it", self.name, self.transport.url(latest))
            newest = ""
        if str(newest) > self.run.run_id:
            log.info("%s: %s names the newer run %s; leaving it", self.name, self.transport.url(latest), newest)
            return
        self._attempt("writing", latest, lambda: self.transport.write(latest, manifest_bytes))

    def _attempt(self, action: str, path: str, operation: Callable[[], T]) -> T:
        """Run one transport operation, again on a new connection after a transient failure."""

        def before_sleep(state: RetryCallState) -> None:
            self._retried += 1
            self.transport.reset()
            log.info("%s: %s %s: %s; trying again", self.name, action, path, state.outcome.exception())

        retrying = Retrying(
            retry=retry_if_exception(self.transport.transient),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential_jitter(multiplier=self.initial_wait, max=self.max_wait, jitter=self.initial_wait),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(operation)
        except Exception as exc:
            self.transport.reset()
            attempts = retrying.statistics.get("attempt_number", 1)
            raise DestinationError(
                f"{self.name}: {action} {self.transport.url(path)} ({self.transport.where}) failed"
                f"{f' after {attempts} attempts' if attempts > 1 else ''}: {type(exc).__name__}: {exc}"
            ) from exc

    def close(self) -> None:
        self.transport.close()


def _transport(conn: ConnectionInfo, timeout: float) -> Transport:
    kind = (conn.conn_type or "").lower()
    if kind == "fs":
        path = conn.extra.get("path")
        if not path:
            raise ValueError(f"connection {conn.conn_id!r}: a local-folder destination needs extra.path")
        return LocalFolder(Path(path))
    if kind == "sftp":
        return Sftp(conn, str(conn.extra.get("path") or ""), timeout)
    if kind in ("aws", "s3"):
        return S3(conn, timeout)
    raise ValueError(f"connection {conn.conn_id!r}: conn_type {conn.conn_type!r} is not fs, sftp, aws or s3")
