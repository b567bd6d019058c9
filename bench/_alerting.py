"""Shared bits of the alerting benchmarks: the alert log counted, Slack posts, targets, child processes."""

from __future__ import annotations

import logging
import math
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from _setup import ROOT

if TYPE_CHECKING:
    import httpx

# The log channel writes on this logger; its children (alerts.delivery, alerts.rules) are not alerts.
ALERT_LOGGER = "alerts"


def no_proxy_for_loopback() -> None:
    """slack-sdk and httpx honour HTTP(S)_PROXY: the fakes and the servers are on loopback."""
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


class AlertLogCounter(logging.Handler):
    """Count the log channel's lines (``[ALERTA] …``, ``[ALERTA RESOLVIDO] …``) without printing them."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.firing = 0
        self.reminders = 0
        self.resolved = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != ALERT_LOGGER:
            return
        text = str(record.msg)
        if text.startswith("[ALERTA RESOLVIDO]"):
            self.resolved += 1
        elif text.startswith("[ALERTA]"):
            if "(lembrete)" in record.getMessage():
                self.reminders += 1
            else:
                self.firing += 1

    def mark(self) -> tuple[int, int]:
        return self.firing, self.resolved


class _NotAlertLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != ALERT_LOGGER


def install_log_counter() -> AlertLogCounter:
    """Send the alert lines to a counter; keep delivery's own errors on stderr; quiet the INFO chatter."""
    counter = AlertLogCounter()
    alerts = logging.getLogger(ALERT_LOGGER)
    alerts.setLevel(logging.DEBUG)
    alerts.propagate = False
    alerts.addHandler(counter)
    errors = logging.StreamHandler(sys.stderr)
    errors.setLevel(logging.ERROR)
    errors.addFilter(_NotAlertLines())
    alerts.addHandler(errors)
    # Cycle summaries, evaluations and enqueued tasks are INFO: the figures say the same, once.
    logging.getLogger().setLevel(logging.WARNING)
    return counter


def post_text(post: Any) -> str:
    """Return everything a reader of a fake-Slack post sees: the fallback text and the blocks."""
    return f"{post.text}\n{post.blocks_text()}"


def first_line(post: Any, width: int = 110) -> str:
    line = post.text.splitlines()[0] if post.text else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the ``pct`` percentile (linear interpolation between order statistics, as numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * pct / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: Sequence[float], unit: str = "s", digits: int = 3) -> str:
    """Return "min … / median … / p95 … / max …" for a list of measures."""
    if not values:
        return "no samples"
    return (
        f"min {min(values):.{digits}f} {unit} / median {statistics.median(values):.{digits}f} {unit} / "
        f"p95 {percentile(values, 95):.{digits}f} {unit} / max {max(values):.{digits}f} {unit}"
    )


@dataclass
class Targets:
    """The checks a bench promises; printed as they are made, summed up for the exit status."""

    results: list[tuple[str, bool]] = field(default_factory=list)

    def check(self, label: str, ok: bool) -> bool:
        self.results.append((label, ok))
        print(f"    [{'OK' if ok else 'MISSED'}] {label}")
        return ok

    @property
    def missed(self) -> list[str]:
        return [label for label, ok in self.results if not ok]


# --- child processes (the latency and wave benches) ---------------------------------------------


def require_postgresql() -> bool:
    """Say why and return False unless DATABASE_URL is PostgreSQL (web server and worker share the database)."""
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return True
    print("error: DATABASE_URL must be PostgreSQL (the web server and the worker share the bench database)")
    return False


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit: it unwinds through the finally blocks (children stopped, DB dropped)."""

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)


def seed_connected(names: list[str]) -> None:
    """Create the instances, connected for an hour (their capacities far from the alert)."""
    from django.utils import timezone

    from instances.models import Instance, Status

    hour_ago = timezone.now() - timedelta(hours=1)
    Instance.objects.bulk_create(
        Instance(
            name=name,
            phone_number=f"55119{90000000 + i:08d}",
            status=Status.CONNECTED,
            status_since=hour_ago,
            last_seen_connected_at=hour_ago,
            last_checked_at=hour_ago,
            capacity_per_hour=30,
            capacity_per_day=200,
        )
        for i, name in enumerate(names)
    )


def child_env(*, slack_url: str, gateway_url: str, api_key: str, webhook_secret: str, debounce: int) -> dict[str, str]:
    """The environment of the web server and the worker: the bench database, production-like, on loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EVOLUTION_", "DB_POOL"))}
    env.update(
        DATABASE_URL=child_database_url(),
        DJANGO_SETTINGS_MODULE="julia_monitor.settings",
        PYTHONUNBUFFERED="1",
        # As in production: no per-query debug log. HTTPS is a proxy's job, not loopback's.
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        EVOLUTION_API_URL=gateway_url,
        EVOLUTION_API_KEY=api_key,
        EVOLUTION_WEBHOOK_SECRET=webhook_secret,
        SLACK_WEBHOOK_URL=slack_url,
        OFFLINE_DEBOUNCE_SECONDS=str(debounce),
        ALERT_EMAILS="",
        LOG_LEVEL="INFO",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_database_url() -> str:
    """The bench database (already created and migrated) as a URL for the children."""
    from django.db import connection

    db = connection.settings_dict
    auth = quote(db["USER"] or "postgres")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Children:
    """The web server and the worker as real processes, each in its own process group."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        out = (self.logs / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 25) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM each child (it stops its own workers), wait, then SIGKILL what is left of its group."""
        for proc in self.procs.values():
            if proc.poll() is None:
                # The leader only: qcluster's sentinel stops its pusher, workers and monitor in
                # order; with the whole group signalled at once it did not stop within 15 s here.
                with suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                print(f"  {name} did not stop on SIGTERM: killing it")
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # stray forked workers, if any
            proc.wait(timeout=5)


def wait_until_serving(http: httpx.Client, children: Children, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children.check_alive()
        try:
            http.get("/dashboard/health")
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the web server did not answer within {timeout:g} s:\n{children.tail('web')}")


def wait_for_disconnect(timeout: float = 10.0) -> None:
    """Let the children's sessions end, or dropping the test database fails."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)
