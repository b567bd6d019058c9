"""``manage.py run_demo``: everything ``make run`` needs, in the foreground, under one Ctrl-C.

Prepares the database and the first admin in-process, then runs as children the gateway
simulator (when no real gateway is configured), the django-q2 worker and the web server,
with their output prefixed. Ctrl-C or SIGTERM stops them all (exit 0); a child dying stops
the others and says which one died and why (exit 1).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from alerts.maintenance import MaintenanceWindow
from instances.demo_doctors import seed_demo_doctors
from instances.models import Instance
from julia_monitor.lib.stopping import stop_on_signals

# The demo fleet's logged-out number (re-paired at 4 min): under maintenance from the start.
DEMO_MAINTENANCE_INSTANCE = "julia-df-01"
DEMO_MAINTENANCE_LENGTH = timedelta(minutes=30)

COLORS = {"sim": "35", "worker": "33", "web": "36", "check": "32"}
# runserver logs every request; a delivered webhook every few seconds would drown the rest.
WEBHOOK_OK = re.compile(r'"POST /webhooks/evolution HTTP/1\.1" 2\d\d ')


@dataclass
class Child:
    label: str
    argv: list[str]
    one_shot: bool = False  # runs once and exits; that is not a failure
    hide: re.Pattern[str] | None = None  # output lines not worth relaying
    process: subprocess.Popen[str] | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    reader: threading.Thread | None = None

    @property
    def started(self) -> subprocess.Popen[str]:
        """The process ``Supervisor.spawn`` started; every child in ``Supervisor.children`` has one."""
        assert self.process is not None, f"{self.label} was never spawned"
        return self.process

    def exit_reason(self) -> str:
        code = self.process.returncode if self.process else None
        if code is not None and code < 0:
            try:
                return f"morto pelo sinal {signal.Signals(-code).name}"
            except ValueError:
                return f"morto pelo sinal {-code}"
        return f"saiu com código {code}"


class Supervisor:
    """Start children in their own process groups, relay their output, stop them all together."""

    def __init__(self, out: TextIO | Any, env: dict[str, str], grace: float = 6.0, color: bool = False) -> None:
        self.out = out
        self.env = env
        self.grace = grace
        self.color = color
        self.children: list[Child] = []
        self._print_lock = threading.Lock()

    def say(self, line: str) -> None:
        with self._print_lock:
            self.out.write(line)
            self.out.flush()

    def spawn(self, child: Child) -> Child:
        # Own session: the terminal's Ctrl-C reaches only us, and we stop children in order
        # (and qcluster's forked workers with them, by process group).
        child.process = subprocess.Popen(  # noqa: S603 - argv is built here, never from input
            child.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            text=True,
            bufsize=1,
            errors="replace",
            start_new_session=True,
        )
        child.reader = threading.Thread(target=self._relay, args=(child,), name=f"relay-{child.label}", daemon=True)
        child.reader.start()
        self.children.append(child)
        return child

    def _relay(self, child: Child) -> None:
        stream = child.started.stdout
        assert stream is not None  # spawned with stdout=PIPE
        width = max(len(label) for label in [*COLORS, child.label])
        prefix = f"[{child.label:<{width}}]"
        if self.color:
            prefix = f"\033[{COLORS.get(child.label, '37')}m{prefix}\033[0m"
        for line in stream:
            line = line.rstrip("\n")
            child.tail.append(line)
            if child.hide is None or not child.hide.search(line):
                self.say(f"{prefix} {line}")

    def dead_child(self) -> Child | None:
        """Return the first long-running child that has exited, if any."""
        for child in self.children:
            if not child.one_shot and child.started.poll() is not None:
                return child
        return None

    def wait(self, stop: threading.Event, poll: float = 0.25) -> Child | None:
        """Block until ``stop`` is set (return None) or a long-running child dies (return it)."""
        while not stop.is_set():
            dead = self.dead_child()
            if dead is not None:
                return dead
            stop.wait(poll)
        return None

    def stop_all(self) -> None:
        """SIGTERM every child, then SIGKILL its whole process group after the grace period.

        SIGTERM goes to the child alone so qcluster stops its own workers cleanly (about 1 s);
        the group SIGKILL afterwards only reaps what did not stop.
        """
        running = [c for c in self.children if c.started.poll() is None]
        for child in reversed(running):
            with contextlib.suppress(ProcessLookupError):
                child.started.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for child in running:
            with contextlib.suppress(subprocess.TimeoutExpired):  # the SIGKILL below handles it
                child.started.wait(timeout=max(0.0, deadline - time.monotonic()))
        for child in running:
            if child.started.poll() is None:
                self.say(f"{child.label} não parou em {self.grace:.0f} s; forçando (SIGKILL)")
        for child in self.children:
            # The whole group, also for a child that died by itself: forked grandchildren
            # (qcluster workers) must not outlive the demo.
            self._signal(child, signal.SIGKILL)
            child.started.wait()
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=2)

    @staticmethod
    def _signal(child: Child, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.started.pid, signum)


class Command(BaseCommand):
    help = "Roda a demonstração completa (make run): banco, admin, simulador, worker e servidor web."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="porta do portal (padrão 8000)")
        parser.add_argument("--seed", type=int, default=None, help="semente do simulador (história repetível)")

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"]
        if not 1 <= port <= 65535:
            raise CommandError("--port deve estar entre 1 e 65535")
        supervisor: Supervisor | None = None
        dead: Child | None = None
        with stop_on_signals() as stop:
            try:
                self._prepare_database()
                if stop.is_set():
                    return
                secret = os.environ.get("EVOLUTION_WEBHOOK_SECRET") or secrets.token_urlsafe(24)
                env = {**os.environ, "EVOLUTION_WEBHOOK_SECRET": secret, "PYTHONUNBUFFERED": "1"}
                supervisor = Supervisor(self.stdout, env, color=self.stdout.isatty())
                dead = self._start_children(supervisor, stop, port, secret, options["seed"])
                if dead is None and not stop.is_set():
                    self._print_urls(port)
                    dead = supervisor.wait(stop)
            finally:
                if supervisor is not None:
                    self.stdout.write("Encerrando…")
                    supervisor.stop_all()
        if dead is not None:
            last = " | ".join(line for line in dead.tail if line.strip())[-400:]
            raise CommandError(f"{dead.label} terminou inesperadamente ({dead.exit_reason()}). Últimas linhas: {last}")
        self.stdout.write("Demonstração encerrada.")

    def _prepare_database(self) -> None:
        self.stdout.write("Preparando o banco de dados…")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        self.stdout.write("Banco de dados pronto.")
        call_command("ensure_admin", stdout=self.stdout)
        if settings.USING_SIMULATOR:
            created = seed_demo_doctors()
            if created:
                self.stdout.write(f"{created} médicos de demonstração cadastrados nas instâncias do simulador.")
            self._schedule_demo_maintenance()

    def _schedule_demo_maintenance(self) -> None:
        """Put the demo's logged-out number under maintenance, so the feature shows at once.

        Its offline alert is recorded but held; it is re-paired within minutes, so nothing is
        posted about it. Kept once across restarts: skipped while a window still covers it.
        """
        # Created by name ahead of the first check (which then fills it in from the gateway).
        instance, _ = Instance.objects.get_or_create(
            name=DEMO_MAINTENANCE_INSTANCE,
            defaults={
                "capacity_per_hour": settings.DEFAULT_CAPACITY_PER_HOUR,
                "capacity_per_day": settings.DEFAULT_CAPACITY_PER_DAY,
            },
        )
        now = timezone.now()
        if MaintenanceWindow.objects.current_and_upcoming(now).covering(instance).exists():
            return
        window = MaintenanceWindow.schedule(
            ends_at=now + DEMO_MAINTENANCE_LENGTH, reason="Troca de aparelho (demonstração)", instances=[instance]
        )
        self.stdout.write(f"Manutenção de demonstração: {instance.name}, {window.until_label(now)}.")

    def _start_children(
        self, supervisor: Supervisor, stop: threading.Event, port: int, secret: str, seed: int | None
    ) -> Child | None:
        """Start the children in order; return a child that died while starting, if any."""
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        if settings.USING_SIMULATOR:
            argv = [
                *manage,
                *("simulate_gateway", "--demo", "--port", str(settings.SIMULATOR_PORT)),
                *("--webhook-url", f"http://127.0.0.1:{port}/webhooks/evolution", "--webhook-secret", secret),
            ]
            argv.append("--wait-for-portal")
            if seed is not None:
                argv += ["--seed", str(seed)]
            supervisor.spawn(Child("sim", argv))
            dead = self._wait_until_up(supervisor, stop, f"{settings.EVOLUTION_API_URL}/", 20)
            if dead is not None or stop.is_set():
                return dead
        else:
            self.stdout.write(f"Gateway real configurado: {settings.EVOLUTION_API_URL} (simulador desligado).")
        supervisor.spawn(Child("worker", [*manage, "qcluster"]))
        supervisor.spawn(Child("web", [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"], hide=WEBHOOK_OK))
        dead = self._wait_until_up(supervisor, stop, f"http://127.0.0.1:{port}/admin/login/", 60)
        if dead is not None or stop.is_set():
            return dead
        if "check_instances" in get_commands():
            supervisor.spawn(Child("check", [*manage, "check_instances"], one_shot=True))
        else:
            self.stdout.write("check_instances ainda não existe: a frota aparece no primeiro ciclo do worker.")
        return None

    def _wait_until_up(self, supervisor: Supervisor, stop: threading.Event, url: str, timeout: float) -> Child | None:
        """Poll ``url`` until it answers at all (any HTTP status); return a child that died meanwhile."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            dead = supervisor.dead_child()
            if dead is not None:
                return dead
            try:
                httpx.get(url, timeout=1.0)
                return None
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stdout.write(f"{url} ainda não respondeu após {timeout:.0f} s; seguindo assim mesmo.")
                return None
            stop.wait(0.3)
        return None

    def _print_urls(self, port: int) -> None:
        base = f"http://127.0.0.1:{port}"
        lines = [
            "",
            "Julia Monitor no ar:",
            f"  Portal        {base}/",
            f"  Admin         {base}/admin/",
            f"  API (docs)    {base}/dashboard/docs",
            f"  Saúde         {base}/dashboard/health",
        ]
        if settings.USING_SIMULATOR:
            lines.append(f"  Simulador     {settings.EVOLUTION_API_URL}  (apikey: {settings.EVOLUTION_API_KEY})")
        lines += ["Ctrl-C encerra tudo.", ""]
        self.stdout.write("\n".join(lines))
