"""``LOG_FORMAT=json``: every line a process writes to its log is one JSON object a machine can read.

Real processes (``manage.py``, gunicorn with the shipped config, the django-q2 worker) on a
throw-away SQLite database; their output is read line by line and ``json.loads``-ed.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from julia_monitor.lib.logs import JsonFormatter
from tests.fakes.common import closed_port
from tests.fakes.healthchecks import PING_PATH, FakeHealthchecks
from tests.faults.processes import ROOT, Child, manage, portal_env, wait_until_serving

# What the script below logs besides the alert: a name with a newline, and an exception.
SCRIPT = """
import logging
from django.utils import timezone
from instances.models import Instance, Status
from alerts.rules import evaluate
from alerts.delivery import deliver_due

Instance.objects.create(
    name="zap-01", phone_number="5511999990001", status=Status.BANNED, last_read_at=timezone.now(),
    capacity_per_hour=20, capacity_per_day=100,
)
evaluate()
deliver_due()
log = logging.getLogger("instances.checks")
log.warning("instância zap-02\\n[ALERTA] forjado", extra={"instance": "zap-02", "opaque": object()})
try:
    {}["ausente"]
except KeyError:
    log.exception("falhou ao gravar zap-03", extra={"instance": "zap-03"})
"""


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied by each test that writes to it."""
    path = tmp_path_factory.mktemp("json-logs") / "template.sqlite3"
    env = portal_env({"SQLITE_PATH": str(path)})
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def database(migrated: Path, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "portal.sqlite3"
    shutil.copy(migrated, path)
    return {"SQLITE_PATH": str(path)}


def run_script(database: dict[str, str], **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SCRIPT],
        cwd=ROOT,
        env=portal_env(database, LOG_LEVEL="INFO", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def json_lines(output: str) -> list[dict[str, Any]]:
    """Return every line of ``output`` as the JSON object it must be (the test fails on any other line)."""
    lines = output.splitlines()
    assert lines, "no log line at all"
    return [json.loads(line) for line in lines]


def test_an_alert_logged_as_json_keeps_its_line_and_carries_its_fields(database) -> None:
    lines = json_lines(run_script(database, LOG_FORMAT="json").stderr)

    (alert,) = [line for line in lines if line["logger"] == "alerts"]
    assert re.fullmatch(r"\[ALERTA\] Instância zap-01 BANIDA: A instância 'zap-01' foi banida .+", alert["message"])
    assert alert["level"] == "CRITICAL"
    assert {k: alert[k] for k in ("rule", "severity", "state", "notification", "instance", "title")} == {
        "rule": "instance_banned",
        "severity": "critical",
        "state": "firing",
        "notification": "firing",
        "instance": "zap-01",
        "title": "Instância zap-01 BANIDA",
    }
    assert isinstance(alert["alert_id"], int)
    # The ban's doctor migration, a line about the same instance, carries its figures as keys too.
    (moves,) = [line for line in lines if line["logger"] == "instances.doctor_moves"]
    assert (moves["moved"], moves["stranded"], isinstance(moves["batch_id"], int)) == (0, 0, True)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", alert["time"])


def test_a_message_with_a_newline_and_a_traceback_each_stay_one_line(database) -> None:
    lines = json_lines(run_script(database, LOG_FORMAT="json").stderr)

    forged, failed = [line for line in lines if line["logger"] == "instances.checks"]
    assert forged["message"] == "instância zap-02\n[ALERTA] forjado"  # one JSON line, the text as it was
    assert forged["instance"] == "zap-02"
    assert forged["opaque"].startswith("<object object at ")  # JSON cannot say it: its str
    assert failed["message"] == "falhou ao gravar zap-03"
    assert failed["exc_info"].startswith("Traceback (most recent call last):")
    assert failed["exc_info"].endswith("KeyError: 'ausente'")
    assert not any(line["logger"] == "alerts" and "forjado" in line["message"] for line in lines)


def test_the_default_stays_the_human_readable_line(database) -> None:
    stderr = run_script(database).stderr

    (alert,) = [line for line in stderr.splitlines() if " alerts " in line]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} CRITICAL alerts \[ALERTA\] Instância zap-01 BANIDA: .+", alert
    )
    assert "instância zap-02\\n[ALERTA] forjado" in stderr  # escaped, as ever
    assert not stderr.lstrip().startswith("{")


def test_an_unknown_log_format_is_a_clear_error(database) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=portal_env(database, LOG_FORMAT="xml"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert "LOG_FORMAT must be one of text, json, got 'xml'" in done.stderr


SECRET = "segredo-do-webhook-global-0123456789abcdef"


def test_gunicorn_writes_its_error_and_access_logs_as_json_without_query_strings(database, tmp_path) -> None:
    port = closed_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    env = portal_env(database, LOG_FORMAT="json", LOG_LEVEL="INFO", PORT=str(port), BIND_HOST="127.0.0.1")
    env.update(WEB_CONCURRENCY="1", GUNICORN_THREADS="2", EVOLUTION_WEBHOOK_SECRET=SECRET)
    web = Child("web", ["-m", "gunicorn", "-c", "gunicorn.conf.py", "julia_monitor.wsgi:application"], env, logs)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/dashboard/health", web)
        payload = {"event": "qrcode.updated", "instance": "zap-01", "data": {}}
        answer = httpx.post(f"http://127.0.0.1:{port}/webhooks/evolution?token={SECRET}", json=payload, timeout=10)
        assert answer.status_code == 200
        httpx.get(f"http://127.0.0.1:{port}/nao-existe?token={SECRET}", timeout=10)
        wait_for(lambda: '"/nao-existe"' in web.output(), "the access line of the 404")
    finally:
        web.stop()

    output = web.output()
    lines = json_lines(output)
    assert SECRET not in output
    assert "token" not in output
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    webhook = next(line for line in access if line["path"] == "/webhooks/evolution")
    assert (webhook["method"], webhook["status"]) == ("POST", "200")
    assert '"POST /webhooks/evolution HTTP/1.1" 200' in webhook["message"]
    assert isinstance(webhook["duration_ms"], int)
    assert any(line["logger"] == "gunicorn.error" and "Listening at" in line["message"] for line in lines)
    # Django's own line for the 404 names the path, never the query string.
    (not_found,) = [line for line in lines if line["logger"] == "django.request" and line["status_code"] == 404]
    assert (not_found["message"], not_found["method"], not_found["path"]) == (
        "Not Found: /nao-existe",
        "GET",
        "/nao-existe",
    )


def test_the_worker_logs_json_and_pings_the_heartbeat_for_its_scheduled_cycle(database, tmp_path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with FakeHealthchecks() as healthchecks:
        env = portal_env(database, LOG_FORMAT="json", LOG_LEVEL="INFO", MONITOR_HEARTBEAT_URL=healthchecks.url)
        worker = manage("worker", "qcluster", env=env, logs=logs)
        try:
            # The schedule's first run is due at once; django-q2's scheduler ticks every ~30 s.
            (ping,) = healthchecks.wait_for_pings(1, timeout=90)
        finally:
            worker.stop()

    # Its gateway is a closed port (portal_env): the cycle failed, and said why on /fail.
    assert (ping.method, ping.path) == ("POST", f"{PING_PATH}/fail")
    assert ping.body.startswith("gateway indisponível:")
    lines = json_lines(worker.output())
    assert any(line["logger"] == "django-q" for line in lines)
    assert any(line["logger"] == "instances.checks" and "gateway" in line["message"] for line in lines)


def wait_for(condition: Callable[[], bool], what: str, deadline: float = 20.0) -> None:
    give_up = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"{what} did not happen within {deadline:.0f} s")
        time.sleep(0.05)


def test_the_json_formatter_never_raises_on_what_extra_carries() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("sem texto")

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "olá %s", ("mundo",), None)
    record.weird = {1}
    record.broken = Unprintable()
    record.separated = "a\u2028b\x85c"

    line = JsonFormatter().format(record)

    assert len(line.splitlines()) == 1
    parsed = json.loads(line)
    assert (parsed["message"], parsed["weird"], parsed["separated"]) == ("olá mundo", "{1}", "a\u2028b\x85c")
    assert parsed["broken"] == "<Unprintable>"
