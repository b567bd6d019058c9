"""Real processes for the fault tests: a private PostgreSQL cluster, the portal's own commands, gunicorn.

Everything runs on loopback, each child in its own process group so a test can SIGKILL it
(and whatever it forked) the way an out-of-memory killer or a lost machine would.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import httpx
import redis

from tests.fakes.common import closed_port

ROOT = Path(__file__).resolve().parents[2]


def postgres_bin_dir() -> Path | None:
    """Return the directory of this machine's PostgreSQL server binaries (initdb, pg_ctl), if any."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def why_no_private_postgres() -> str:
    """Return why a private PostgreSQL cluster cannot run here, or "" if it can."""
    if postgres_bin_dir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run initdb as"
    return ""


class PostgresCluster:
    """A throw-away PostgreSQL cluster in a temporary directory, on a free port, trust auth, no fsync."""

    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None, why_no_private_postgres()
        self.bin = bin_dir
        self.home = Path(tempfile.mkdtemp(prefix="julia-faults-pg-"))
        self.data = self.home / "data"
        self.port = closed_port()
        # initdb refuses to run as root: the cluster then belongs to the system's postgres user.
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.home, user="postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 30) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=timeout)

    def _options(self) -> str:
        # The socket goes in our own directory, not /var/run/postgresql (the machine's server's).
        return (
            f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )

    def init(self) -> PostgresCluster:
        initdb = str(self.bin / "initdb")
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        return self

    def start(self) -> None:
        log = str(self.home / "log")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", self._options(), "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with suppress(subprocess.SubprocessError):
            self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)


# Production refuses a webhook secret under 32 characters.
WEBHOOK_SECRET = "faults-webhook-secret-of-32-chars"


def portal_env(database: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment of a portal process: production-like (DEBUG off), on loopback, on ``database``.

    ``database`` is ``{"DATABASE_URL": …}`` or ``{"SQLITE_PATH": …}``.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "EVOLUTION_", "DB_", "DATABASE_URL", "SQLITE_PATH", "DJANGO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="julia_monitor.settings",
        PYTHONUNBUFFERED="1",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        # The fakes refuse a real gateway's key; these are overridden where a test needs them.
        EVOLUTION_API_URL=f"http://127.0.0.1:{closed_port()}",
        EVOLUTION_API_KEY="faults-key",
        EVOLUTION_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ALERT_EMAILS="",
        LOG_LEVEL="WARNING",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(database)
    env.update(extra)
    return env


class Child:
    """One portal process (a management command, gunicorn) in its own process group, output in a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group: no finally block, no atexit, no goodbye to the database."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self.kill()

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)


def manage(name: str, *args: str, env: dict[str, str], logs: Path) -> Child:
    return Child(name, ["manage.py", *args], env, logs)


def gunicorn(env: dict[str, str], logs: Path, port: int, threads: int = 4) -> Child:
    """The web server as production runs it (README "Production"), flags given here, not from a config file."""
    args = ["-m", "gunicorn", "julia_monitor.wsgi:application", "-k", "gthread", "-w", "1"]
    args += ["--threads", str(threads), "-b", f"127.0.0.1:{port}", "--timeout", "30", "--graceful-timeout", "2"]
    return Child("web", args, env, logs)


def wait_until_serving(url: str, child: Child, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise AssertionError(f"{child.name} exited with {child.proc.returncode}:\n{child.output()[-3000:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{child.name} did not answer within {timeout:g} s:\n{child.output()[-3000:]}")


class RedisServer:
    """A real redis-server on a free port, in a temp dir, that a test can stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = closed_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [*args, "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:  # a process start, not a clock: poll until it answers
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
