"""The embedded default: web, worker and webhooks write one SQLite file at once without
"database is locked" (WAL + IMMEDIATE transactions + busy timeout)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each writer counts messages and flips a status, as webhooks and the cycle do, in a loop.
WRITER = """
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "julia_monitor.settings"
django.setup()
from instances.models import Instance, Status
zap = Instance.objects.get(name="zap-01")
for n in range(150):
    zap.record_sent(f"{os.getpid()}-{n}")
    zap.record_status(Status.CONNECTED if n % 2 else Status.CONNECTING)
print("ok")
"""

SETUP = """
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "julia_monitor.settings"
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from instances.models import Instance
Instance.objects.create(name="zap-01", capacity_per_hour=10000, capacity_per_day=100000)
"""

COUNT = """
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "julia_monitor.settings"
django.setup()
from django.db.models import Sum
from instances.models import UsageBucket
print(UsageBucket.objects.aggregate(total=Sum("count"))["total"])
"""


def python(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_three_writers_on_one_sqlite_file_never_hit_database_is_locked(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["SQLITE_PATH"] = str(tmp_path / "portal.sqlite3")
    setup = python(SETUP, env)
    assert setup.wait(timeout=120) == 0, setup.stderr.read()

    writers = [python(WRITER, env) for _ in range(3)]
    results = [(w.wait(timeout=120), w.stdout.read(), w.stderr.read()) for w in writers]

    for code, out, err in results:
        assert code == 0 and out.strip() == "ok", err[-2000:]
        assert "database is locked" not in err
    total = python(COUNT, env)
    assert total.wait(timeout=60) == 0
    assert total.stdout.read().strip() == "450"
