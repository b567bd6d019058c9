"""A real local server that stands in for Healthchecks' ping endpoints in tests.

It records every request (method, path, body) and answers ``200 OK`` as Healthchecks does, or,
once told to ``hang()``, reads the request and never answers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fakes.common import wait_for_items

PING_PATH = "/ping/0b4a4b1e-6f1c-4d5e-9a1d-segredo-do-ping"


@dataclass(frozen=True)
class Ping:
    method: str
    path: str
    body: str


class FakeHealthchecks:
    def __init__(self) -> None:
        self.pings: list[Ping] = []
        self.hanging = False
        self.status = 200  # what it answers; Healthchecks says 404 "not found" for an unknown check
        self._cond = threading.Condition()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        """The check's ping URL (its path is the secret part)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{PING_PATH}"

    def hang(self) -> None:
        """From now on, take each request and never answer it."""
        self.hanging = True

    def wait_for_pings(self, n: int, timeout: float = 5.0) -> list[Ping]:
        return wait_for_items(self._cond, self.pings, n, timeout, "pings")

    def record(self, ping: Ping) -> None:
        with self._cond:
            self.pings.append(ping)
            self._cond.notify_all()

    def __enter__(self) -> FakeHealthchecks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()  # ends hanging requests
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def _answer(self) -> None:
        fake: FakeHealthchecks = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        fake.record(Ping(self.command, self.path, body))
        if fake.hanging:
            fake._release.wait(30)
            return
        body = b"OK" if fake.status == 200 else b"not found"
        self.send_response(fake.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:  # quiet: the test reads `pings`
        pass
