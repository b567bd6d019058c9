"""A webhook sent with ``Transfer-Encoding: chunked`` (no Content-Length), through real gunicorn on loopback.

Django alone reads no body without a Content-Length; the portal reads gunicorn's de-chunked
stream itself, with the same size limit. No database is touched by these requests, so the
server needs none.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from instances.webhook_request import MAX_BODY_BYTES

ROOT = Path(__file__).resolve().parents[2]
SECRET = "segredo-do-webhook-chunked"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = _free_port()
    tmp = tmp_path_factory.mktemp("gunicorn")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "EVOLUTION_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="julia_monitor.settings",
        EVOLUTION_WEBHOOK_SECRET=SECRET,
        SQLITE_PATH=str(tmp / "unused.sqlite3"),
        PYTHONUNBUFFERED="1",
    )
    log = (tmp / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "julia_monitor.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{(tmp / 'gunicorn.log').read_text(errors='replace')}")
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def post_chunked(port: int, chunks: Iterable[bytes]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    # An iterable body and no Content-Length: http.client sends it chunked, as Evolution's client may.
    conn.request(
        "POST",
        "/webhooks/evolution",
        body=iter(chunks),
        headers={"Content-Type": "application/json", "X-Webhook-Secret": SECRET},
        encode_chunked=True,
    )
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    return response.status, body


def test_a_chunked_webhook_is_read_and_parsed(gunicorn):
    event = json.dumps({"event": "presence.update", "instance": "zap-01", "data": {"presences": {}}}).encode()
    status, body = post_chunked(gunicorn, [event[:10], event[10:25], event[25:]])
    assert (status, body) == (200, {"ok": True, "ignorado": True})


def test_a_chunked_webhook_with_a_nul_in_the_name_is_ignored_not_refused(gunicorn):
    event = json.dumps({"event": "send.message", "instance": "zap\x00", "data": {"key": {"id": "A"}}}).encode()
    status, body = post_chunked(gunicorn, [event[:7], event[7:]])
    assert status == 200
    assert body["ignorado"] is True


def test_a_chunked_webhook_that_is_not_json_gets_the_same_400_as_any_other(gunicorn):
    status, body = post_chunked(gunicorn, [b"{not ", b"json"])
    assert (status, body) == (400, {"detail": "Corpo não é um JSON válido."})


def test_a_chunked_webhook_past_the_size_limit_gets_413(gunicorn):
    piece = b" " * (1024 * 1024)
    # Just past the limit, so the whole body is read before the answer (no broken pipe).
    status, body = post_chunked(gunicorn, [b"{", *[piece] * (MAX_BODY_BYTES // len(piece)), b" " * 100, b"}"])
    assert status == 413
    assert "Corpo grande demais" in body["detail"]
