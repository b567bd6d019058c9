"""A real local server that stands in for Slack in tests and benchmarks.

It speaks the real protocol on 127.0.0.1 (an ephemeral port), so the real slack-sdk is
exercised; failures are scripted (429 + Retry-After, 5xx, hangs) instead of mocked.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.common import wait_for_items

# What Slack says with each status (webhook wording); other statuses say "internal_error".
DEFAULT_ERRORS = {
    400: "invalid_payload",
    403: "invalid_token",
    404: "no_service",
    410: "channel_is_archived",
    429: "rate_limited",
}


def blocks_are_valid(blocks: Any) -> bool:
    """Check the Block Kit limits Slack enforces (it refuses the whole post otherwise)."""
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    blocks = blocks or []
    if len(blocks) > 50:
        return False
    for block in blocks:
        kind, text = block.get("type"), (block.get("text") or {}).get("text", "")
        if kind == "header" and (block["text"].get("type") != "plain_text" or len(text) > 150):
            return False
        if kind == "section" and len(text) > 3000:
            return False
        if kind == "context" and len(block.get("elements", [])) > 10:
            return False
    return True


@dataclass(frozen=True)
class SlackPost:
    """One message Slack accepted."""

    path: str
    body: dict[str, Any]
    received_at: float  # time.time()
    monotonic: float  # time.monotonic(), for measuring pace and delays

    @property
    def text(self) -> str:
        return str(self.body.get("text") or "")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.body.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else list(blocks)

    @property
    def channel(self) -> str | None:
        return self.body.get("channel")

    def blocks_text(self) -> str:
        """Return every text of the blocks, joined: what a reader of the post sees."""
        parts = []
        for block in self.blocks:
            if "text" in block:
                parts.append(block["text"]["text"])
            for element in block.get("elements", []):
                if "text" in element:  # a context's text, or a button's label (a text object)
                    label = element["text"]
                    parts.append(label["text"] if isinstance(label, dict) else label)
        return "\n".join(parts)


@dataclass
class _Failure:
    status: int
    body: str
    retry_after: float | None = None
    remaining: int | None = None  # None: until recover()
    until: Callable[[], bool] | None = None  # fail while this is False


@dataclass
class _RateLimit:
    per_second: float
    burst: int
    retry_after: float
    tokens: float = 0.0
    refilled_at: float = field(default_factory=time.monotonic)


class FakeSlack:
    """Incoming webhook + ``chat.postMessage`` on a local port; see the module docstring."""

    WEBHOOK_PATH = "/services/T000/B000/XXX"

    def __init__(self, token: str = "xoxb-test-token", channels: Iterable[str] | None = None) -> None:  # noqa: S107
        self.token = token
        # None: every channel exists; else unknown channels get channel_not_found.
        self.channels = set(channels) if channels is not None else None
        self.messages: list[SlackPost] = []
        self.updates: list[SlackPost] = []  # chat.update calls Slack accepted
        self.people: dict[str, str] = {}  # Slack member id → e-mail, for users.info
        self.attempts: list[tuple[str, int]] = []  # (path, status answered), every request
        self.started: list[str] = []  # path of every request received, before any scripted hang
        self._cond = threading.Condition()
        self._failure: _Failure | None = None
        self._hang: tuple[float, int | None] | None = None
        self._rate: _RateLimit | None = None
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _SlackHandler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # lifecycle
    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends hanging requests now
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url_webhook(self) -> str:
        return self.url_base + self.WEBHOOK_PATH

    @property
    def url_api(self) -> str:
        return self.url_base + "/api/"

    # scripting
    def fail_with(
        self, status: int, times: int | None = None, retry_after: float | None = None, body: str | None = None
    ) -> None:
        """Answer the next ``times`` requests (all, if None) with this error."""
        with self._cond:
            self._failure = _Failure(status, body or DEFAULT_ERRORS.get(status, "internal_error"), retry_after, times)

    def fail_until(
        self,
        until: float | Callable[[], bool],
        status: int = 500,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        """Fail until ``until()`` is true, or until ``time.monotonic()`` reaches ``until``."""
        ready = until if callable(until) else (lambda: time.monotonic() >= until)
        with self._cond:
            self._failure = _Failure(
                status, body or DEFAULT_ERRORS.get(status, "internal_error"), retry_after, None, ready
            )

    def hang(self, seconds: float, times: int | None = None) -> None:
        """Hold the next ``times`` requests (all, if None) this long before answering."""
        with self._cond:
            self._hang = (seconds, times)

    def rate_limit(self, per_second: float = 1.0, burst: int = 1, retry_after: float = 1.0) -> None:
        """Answer 429 + ``Retry-After`` beyond ``per_second`` messages (after a ``burst``), as Slack does."""
        with self._cond:
            self._rate = _RateLimit(per_second, burst, retry_after, tokens=float(burst))

    def recover(self) -> None:
        with self._cond:
            self._failure = self._hang = self._rate = None

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[str]:
        """Return the paths of the requests received once there are at least ``n`` (answered or not)."""
        return wait_for_items(self._cond, self.started, n, timeout, "request(s) to Slack")

    def wait_for(self, n: int, timeout: float = 5.0) -> list[SlackPost]:
        """Return the accepted messages once there are at least ``n``."""
        return wait_for_items(self._cond, self.messages, n, timeout, "Slack message(s)")

    # serving
    def _hang_seconds(self) -> float:
        with self._cond:
            if self._hang is None:
                return 0.0
            seconds, times = self._hang
            if times is not None:
                self._hang = (seconds, times - 1) if times > 1 else None
            return seconds

    def _scripted_error(self) -> _Failure | None:
        with self._cond:
            failure = self._failure
            if failure is None:
                return None
            if failure.until is not None and failure.until():
                self._failure = None
                return None
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failure = None
            return failure

    def _rate_limited(self) -> float | None:
        with self._cond:
            rate = self._rate
            if rate is None:
                return None
            now = time.monotonic()
            rate.tokens = min(float(rate.burst), rate.tokens + (now - rate.refilled_at) * rate.per_second)
            rate.refilled_at = now
            if rate.tokens >= 1:
                rate.tokens -= 1
                return None
            return rate.retry_after

    def handle(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, str], str | dict[str, Any]]:
        """Return (status, headers, body) for one request; called from the server's threads."""
        with self._cond:
            self.started.append(path)
            self._cond.notify_all()
        hang = self._hang_seconds()
        if hang and self._stopping.wait(hang):
            return 503, {}, "shutting_down"
        failure = self._scripted_error()
        if failure is not None:
            extra = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
            return failure.status, extra, failure.body
        retry_after = self._rate_limited()
        if retry_after is not None:
            return 429, {"Retry-After": f"{retry_after:g}"}, "rate_limited"
        if path == self.WEBHOOK_PATH:
            return self._accept_webhook(path, raw)
        if path == "/api/chat.postMessage":
            return self._accept_api(path, headers, raw)
        if path == "/api/chat.update":
            return self._accept_update(path, headers, raw)
        if path == "/api/users.info":
            return self._users_info(headers, raw)
        if path.startswith("/api/"):
            return 404, {}, "unknown_method"
        return 404, {}, "no_service"

    def _accept_webhook(self, path: str, raw: bytes) -> tuple[int, dict[str, str], str]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, {}, "invalid_payload"
        if not body.get("text") and not body.get("blocks"):
            return 400, {}, "no_text"
        if not blocks_are_valid(body.get("blocks")):
            return 400, {}, "invalid_blocks"
        self._record(path, body)
        return 200, {}, "ok"

    def _accept_api(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        # The Web API answers auth and channel problems with HTTP 200 and ``ok: false``.
        if headers.get("Authorization", "") != f"Bearer {self.token}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        # slack-sdk posts JSON; older clients post a form.
        is_json = "json" in headers.get("Content-Type", "")
        body = json.loads(raw or b"{}") if is_json else dict(parse_qsl(raw.decode()))
        channel = body.get("channel")
        if not channel:
            return 200, {}, {"ok": False, "error": "channel_not_found"}
        if self.channels is not None and channel not in self.channels:
            return 200, {}, {"ok": False, "error": "channel_not_found"}
        if not body.get("text") and not body.get("blocks"):
            return 200, {}, {"ok": False, "error": "no_text"}
        if not blocks_are_valid(body.get("blocks")):
            return 200, {}, {"ok": False, "error": "invalid_blocks"}
        post = self._record(path, body)
        return 200, {}, {"ok": True, "channel": channel, "ts": f"{post.received_at:.6f}"}

    def _accept_update(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        """``chat.update``: only a message this fake accepted, by its channel and ``ts``."""
        if headers.get("Authorization", "") != f"Bearer {self.token}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        body = json.loads(raw or b"{}") if "json" in headers.get("Content-Type", "") else dict(parse_qsl(raw.decode()))
        with self._cond:
            known = any(
                m.channel == body.get("channel") and f"{m.received_at:.6f}" == body.get("ts") for m in self.messages
            )
        if not known:
            return 200, {}, {"ok": False, "error": "message_not_found"}
        if not blocks_are_valid(body.get("blocks")):
            return 200, {}, {"ok": False, "error": "invalid_blocks"}
        post = SlackPost(path, body, time.time(), time.monotonic())
        with self._cond:
            self.updates.append(post)
            self._cond.notify_all()
        return 200, {}, {"ok": True, "channel": body["channel"], "ts": body["ts"]}

    def _users_info(self, headers: Any, raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        """``users.info`` (slack-sdk asks with GET and the query string; ``raw`` is it then)."""
        if headers.get("Authorization", "") != f"Bearer {self.token}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        user_id = dict(parse_qsl(raw.decode())).get("user", "")
        if user_id not in self.people:
            return 200, {}, {"ok": False, "error": "user_not_found"}
        return 200, {}, {"ok": True, "user": {"id": user_id, "profile": {"email": self.people[user_id]}}}

    def _record(self, path: str, body: dict[str, Any]) -> SlackPost:
        post = SlackPost(path, body, time.time(), time.monotonic())
        with self._cond:
            self.messages.append(post)
            self._cond.notify_all()
        return post


class _SlackHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        # The Web API's read methods (users.info) come as GET with the arguments in the query string.
        path, _, query = self.path.partition("?")
        self._answer(path, query.encode())

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(self.path.split("?", 1)[0], raw)

    def _answer(self, path: str, raw: bytes) -> None:
        fake: FakeSlack = self.server.fake  # type: ignore[attr-defined]
        status, headers, body = fake.handle(path, self.headers, raw)
        if path.startswith("/api/") and isinstance(body, str):
            body = {"ok": False, "error": body}
        with fake._cond:
            fake.attempts.append((path, status))
        if isinstance(body, dict):
            payload, content_type = json.dumps(body).encode(), "application/json; charset=utf-8"
        else:
            payload, content_type = body.encode(), "text/plain; charset=utf-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (its timeout): nothing to answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean
