"""An SFTP server on loopback, rooted at a local folder, that can cut the connection on demand.

The `files` destination promises that a reader never sees a half-written export. That is only proven by
cutting a real SSH connection in the middle of an upload or just before a rename, so this server speaks
SSH and SFTP (asyncssh) on a free loopback port, in a background thread, serving one user who logs in with
a password (or, if given, a public key). Clients see `root` as `/` and cannot leave it. The host key is
made at start, so nothing is read from or written to disk but the served folder.

    with serve_sftp(tmp_path, "drop", "secret") as server:
        server.drop_on_rename(name="manifest.json")  # the next rename onto a manifest cuts the connection
        ...  # connect to server.host:server.port, pin server.host_key
"""

from __future__ import annotations

import asyncio
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh

START_TIMEOUT_S = 15.0


@dataclass
class _Drop:
    times: int
    after_bytes: int = 0  #: for writes: bytes a session may write before the cut
    name: str = ""  #: for renames: the new name must end with this


class SftpServer:
    """The running server: where it listens, its host key, who logged in, and the faults to serve."""

    def __init__(self, root: Path, username: str, password: str, authorized_key: str | None = None):
        self.root = Path(root).resolve()
        self.username, self.password = username, password
        self.authorized_key = asyncssh.import_public_key(authorized_key) if authorized_key else None
        self.host_private_key = asyncssh.generate_private_key("ssh-ed25519")
        #: The server's public key as `extra.host_key` takes it (`ssh-ed25519 AAAA...`).
        self.host_key = self.host_private_key.export_public_key("openssh").decode().strip()
        self.host, self.port = "127.0.0.1", 0
        self._lock = threading.Lock()
        self._logins = 0
        self._write_drop: _Drop | None = None
        self._rename_drop: _Drop | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp-server", daemon=True)
        self._acceptor: asyncssh.SSHAcceptor | None = None

    @property
    def logins(self) -> int:
        """Sessions that logged in so far (a client that reconnects after a cut logs in again)."""
        with self._lock:
            return self._logins

    def drop_after_bytes(self, after_bytes: int, times: int = 1) -> None:
        """Cut each of the next `times` sessions that write more than `after_bytes` bytes (in all its files),
        after writing exactly that many: the file being written stays behind, incomplete."""
        with self._lock:
            self._write_drop = _Drop(times=times, after_bytes=after_bytes)

    def drop_on_rename(self, times: int = 1, name: str = "") -> None:
        """Cut the connection instead of the next `times` renames to a path ending with `name`; the file is
        not renamed."""
        with self._lock:
            self._rename_drop = _Drop(times=times, name=name)

    def _take_write_drop(self, written: int) -> int | None:
        """How many bytes of this write to keep before cutting, if a drop is due (a session has written
        `written` bytes including this write)."""
        with self._lock:
            drop = self._write_drop
            if not drop or written <= drop.after_bytes:
                return None
            drop.times -= 1
            if drop.times == 0:
                self._write_drop = None
            return drop.after_bytes

    def _take_rename_drop(self, new_path: bytes) -> bool:
        with self._lock:
            drop = self._rename_drop
            if not drop or not new_path.decode(errors="replace").endswith(drop.name):
                return False
            drop.times -= 1
            if drop.times == 0:
                self._rename_drop = None
            return True

    def _logged_in(self) -> None:
        with self._lock:
            self._logins += 1

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        try:
            self._acceptor = future.result(START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        self.port = self._acceptor.get_port()

    async def _listen(self) -> asyncssh.SSHAcceptor:
        return await asyncssh.create_server(
            lambda: _Login(self), self.host, 0, server_host_keys=[self.host_private_key],
            sftp_factory=lambda channel: _Session(channel, self), allow_scp=False,
        )  # fmt: skip

    async def _shut(self) -> None:
        for connection in list(self._connections):
            connection.abort()
        if self._acceptor:
            self._acceptor.close()
            await self._acceptor.wait_closed()

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shut(), self._loop).result(START_TIMEOUT_S)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_TIMEOUT_S)
        self._loop.close()


class _Login(asyncssh.SSHServer):
    """Password (and optionally public key) authentication for the one user."""

    def __init__(self, server: SftpServer):
        self.server = server
        self.connection: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.connection = conn
        self.server._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self.connection)

    def begin_auth(self, username: str) -> bool:
        return True  # every user must authenticate

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self.server.username and hmac.compare_digest(password, self.server.password)

    def public_key_auth_supported(self) -> bool:
        return self.server.authorized_key is not None

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        authorized = self.server.authorized_key
        return username == self.server.username and authorized is not None and key.public_data == authorized.public_data

    def auth_completed(self) -> None:
        self.server._logged_in()


class _Session(asyncssh.SFTPServer):
    """One SFTP session, chrooted to the served folder, that cuts its connection when a drop is due.

    Requests the client had already sent when the cut comes are not served, as on a real broken link."""

    def __init__(self, channel: asyncssh.SSHServerChannel, server: SftpServer):
        super().__init__(channel, chroot=str(server.root).encode())
        self.server = server
        self.written = 0
        self.cut = False

    def _stop_if(self, due: bool) -> None:
        """Cut the connection if a drop is due, and refuse every request once it is cut."""
        if due and not self.cut:
            self.cut = True
            self.connection.abort()
        if self.cut:
            raise asyncssh.SFTPConnectionLost("the connection was cut")

    def write(self, file_obj: object, offset: int, data: bytes):
        self._stop_if(False)
        keep = self.server._take_write_drop(self.written + len(data))
        if keep is not None:
            super().write(file_obj, offset, data[: keep - self.written])
            file_obj.flush()
            self._stop_if(True)
        self.written += len(data)
        return super().write(file_obj, offset, data)

    def rename(self, oldpath: bytes, newpath: bytes):
        self._stop_if(not self.cut and self.server._take_rename_drop(newpath))
        return super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes):
        self._stop_if(not self.cut and self.server._take_rename_drop(newpath))
        return super().posix_rename(oldpath, newpath)


@contextmanager
def serve_sftp(root: Path, username: str, password: str, *, authorized_key: str | None = None) -> Iterator[SftpServer]:
    """Serve `root` over SFTP on a free loopback port until the block exits.

    `authorized_key` (an OpenSSH public key line) also lets the user log in with that key."""
    server = SftpServer(root, username, password, authorized_key)
    server.start()
    try:
        yield server
    finally:
        server.stop()
