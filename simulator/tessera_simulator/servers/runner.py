"""Run both API stand-ins on loopback in background threads, for the demo and for tests."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from tessera_simulator.servers.crm_api import crm_app
from tessera_simulator.servers.esp_api import esp_app

log = logging.getLogger(__name__)
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ServerUrls:
    crm: str
    esp: str


class _SignallingServer(uvicorn.Server):
    """A uvicorn server that says when it is listening."""

    def __init__(self, config: uvicorn.Config):
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


class BackgroundServer:
    """One app served by uvicorn on a free loopback port in a daemon thread."""

    def __init__(self, app: FastAPI, name: str, host: str = "127.0.0.1"):
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2)
        self.server = _SignallingServer(config)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"{name}-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # reported by start()
            self.error = exc
        finally:
            self.server.ready.set()

    def start(self) -> None:
        self.thread.start()
        if not self.server.ready.wait(START_TIMEOUT_S) or self.error or not self.server.started:
            self.stop()
            raise RuntimeError(f"the {self.name} server did not start on {self.url}: {self.error or 'timed out'}")
        log.info("server listening", extra={"server": self.name, "url": self.url})

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(STOP_TIMEOUT_S)
        self.sock.close()
        if self.thread.is_alive():
            log.warning("server did not stop in time", extra={"server": self.name})


@contextmanager
def run_servers(sim_dir: Path, token: str) -> Iterator[ServerUrls]:
    """Serve the CRM and email APIs over `sim_dir` on free loopback ports until the block exits."""
    with ExitStack() as stack:
        servers = []
        for name, factory in (("crm", crm_app), ("esp", esp_app)):
            server = BackgroundServer(factory(Path(sim_dir), token=token), name)
            server.start()
            stack.callback(server.stop)
            servers.append(server)
        yield ServerUrls(crm=servers[0].url, esp=servers[1].url)
