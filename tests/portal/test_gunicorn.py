"""The production web server as shipped (``gunicorn.conf.py``): the webhook secret stays out of its log."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "segredo-que-nao-pode-ir-para-o-log-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], bool], what: str, deadline: float = 20.0) -> None:
    """Poll a process we started until it is ready (it takes what it takes; no fixed sleep)."""
    give_up = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"gunicorn: {what} did not happen within {deadline:.0f} s")
        time.sleep(0.05)


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    access_log = tmp_path / "access.log"
    dropped = {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        PORT=str(port),
        BIND_HOST="127.0.0.1",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
        GUNICORN_ACCESS_LOG=str(access_log),
        GUNICORN_ERROR_LOG=str(tmp_path / "error.log"),
        EVOLUTION_WEBHOOK_SECRET=SECRET,
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        DJANGO_SETTINGS_MODULE="julia_monitor.settings",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "julia_monitor.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def listening() -> bool:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited: {(tmp_path / 'error.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            except OSError:
                return False
            return True

        wait_for(listening, "listening")
        yield url, access_log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_access_log_records_the_webhook_without_its_token(gunicorn: tuple[str, Path]) -> None:
    url, access_log = gunicorn
    # An event the portal does not use: it is authenticated and answered without a database.
    payload = {"event": "qrcode.updated", "instance": "zap-01", "data": {}}

    response = httpx.post(f"{url}/webhooks/evolution?token={SECRET}&outro=1", json=payload, timeout=10)

    assert response.status_code == 200, response.text  # the token was read, so it was there
    wait_for(lambda: "/webhooks/evolution" in access_log.read_text(), "the access log line")
    line = next(line for line in access_log.read_text().splitlines() if "/webhooks/evolution" in line)
    assert '"POST /webhooks/evolution HTTP/1.1" 200' in line
    assert SECRET not in line
    assert "token" not in line
