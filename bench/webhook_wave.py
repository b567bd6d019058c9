"""A wave of status webhooks: 1,000 numbers drop within two seconds, worker and web server running.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> REDIS_URL=redis://127.0.0.1:6379/<n> \\
        .venv/bin/python bench/webhook_wave.py [--instances 1000] [--window 2] [--no-coalesce]

Target: a handful of grouped posts, evaluations bounded, next cycle not delayed. Every status
webhook asks for an alert evaluation; requests coalesce, so a wave queues one evaluation at a
time (plus one re-run if more arrived while it ran) instead of one per webhook queued ahead of
the minute's check cycle on the same ORM queue.

On a fresh test database (``_setup.bench_database``; PostgreSQL only, as the processes share
it) the bench starts, as real processes on loopback, gunicorn (as in the README) and the
django-q2 worker (``manage.py qcluster``), production-like (``DEBUG=false``), plus, in its own
process, a fake Slack (the worker's real slack-sdk posts to it) and the gateway simulator, kept
in step with the webhooks so the worker's own check cycle agrees with them.

``--instances`` numbers connected for an hour (plus a few that stay connected, so the fleet
alert never fires) each get one ``connection.update`` webhook ``state: close, statusReason: 401``,
all within ``--window`` seconds (concurrent httpx), timed to start ``--lead`` seconds before the
next scheduled check cycle is due. The bench then waits until the alerts settle (queue empty,
Slack quiet) and that cycle has run. Printed: Slack posts received and how many instances they
name, evaluations run (``evaluate_and_deliver`` tasks that ended well, counted in the worker's
log and in django-q2's ``Success`` table, which keeps only its last ``save_limit`` rows), and how
late the cycle started against ``Schedule.next_run``, split into django-q2's scheduler tick (it
looks at schedules every 30 s) and the wait in the queue behind the wave's tasks. The ORM broker
(no REDIS_URL) hands tasks out in no set order, so that wait depends on the queue's depth and on
luck: the depth is printed too. With REDIS_URL the broker is Redis, first in, first out.

``--no-coalesce`` measures the old behaviour for comparison: the web server's status receiver
is rewired to queue one evaluation per webhook (the worker is unchanged). Exit status 1 if a
target is missed. The children are stopped (SIGTERM, then SIGKILL) on every exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _alerting import (
    Children,
    Targets,
    child_env,
    exit_on_sigterm,
    first_line,
    free_port,
    no_proxy_for_loopback,
    post_text,
    require_postgresql,
    seed_connected,
    spread,
    wait_for_disconnect,
    wait_until_serving,
)
from _setup import bench_database

API_KEY = "bench-wave-key"
WEBHOOK_SECRET = "bench-wave-webhook-secret-0123456789"  # 32+: DEBUG is off
PREFIX = "onda-"
STEADY = 5
EVALUATION_TASK = "alerts.tasks.evaluate_and_deliver"
CYCLE_TASK = "instances.tasks.check_instances"
CYCLE_SCHEDULE = "check-instances"
PROCESSED = f"Processed '{EVALUATION_TASK}'"  # django-q2's log line for a task that ended well
MAX_QUEUE_WAIT = 5.0  # seconds the cycle may wait in the queue behind the wave
QUIET = 3.0  # seconds without a Slack post, an outbox message due or a queued task: settled
BOOT_TIMEOUT = 120.0  # the worker's scheduler first ticks 30 s after it starts
RETRIES = 3


@dataclass
class Answer:
    name: str
    status: int
    changed: bool
    seconds: float  # from the POST to the answer, a wait for a free connection included
    answered: float  # time.monotonic()
    retries: int  # after a connection the server dropped


def uncoalesced_application() -> Any:
    """WSGI app for ``--no-coalesce``: each status webhook queues its own evaluation, as before coalescing.

    gunicorn calls this factory in each worker; the coalescing receiver is swapped after Django is set up.
    """
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()  # sets Django up: the imports below need the app registry
    from django.db import transaction
    from django_q.tasks import async_task

    from instances.signals import status_changed

    def queue_one_per_webhook(sender: Any = None, **kwargs: Any) -> None:
        transaction.on_commit(lambda: async_task(EVALUATION_TASK, task_name="avaliar-alertas"))

    status_changed.disconnect(dispatch_uid="alerts-after-status-webhook")
    status_changed.connect(queue_one_per_webhook, weak=False, dispatch_uid="bench-one-evaluation-per-webhook")
    return application


def processed_evaluations(children: Children) -> int:
    path = children.logs / "qcluster.log"
    return path.read_text(errors="replace").count(PROCESSED) if path.exists() else 0


def queue_depth() -> int:
    """Return the tasks waiting in the broker: the database's with the ORM broker, Redis's with REDIS_URL."""
    from django_q.brokers import get_broker

    return get_broker().queue_size() or 0


def wait_for_first_cycle(children: Children) -> None:
    """Wait until the worker has run its first check cycle and the evaluation it asked for."""
    from instances.models import CheckCycle

    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        children.check_alive()
        if CheckCycle.objects.filter(finished_at__isnull=False).exists() and not queue_depth():
            return
        time.sleep(0.5)
    raise RuntimeError(f"no check cycle within {BOOT_TIMEOUT:g} s:\n{children.tail('qcluster')}")


def next_cycle_due(lead: float, children: Children) -> datetime:
    """Return when the next check cycle is due, having slept until ``lead`` seconds before it."""
    from django.utils import timezone
    from django_q.models import Schedule

    while True:
        children.check_alive()
        due = Schedule.objects.get(name=CYCLE_SCHEDULE).next_run
        ahead = (due - timezone.now()).total_seconds() - lead
        if ahead >= 0:
            time.sleep(ahead)
            return due
        time.sleep(0.5)  # too close or already passed: wait for the scheduler to move next_run on


def envelope(name: str) -> dict[str, Any]:
    return {"event": "connection.update", "instance": name, "data": {"state": "close", "statusReason": 401}}


async def fire_all(base_url: str, names: list[str], window: float, concurrency: int) -> list[Answer]:
    """POST one close webhook per name, spread evenly over ``window`` seconds, at most ``concurrency`` at once.

    A connection the server dropped is retried, as Evolution retries a webhook.
    """
    # gunicorn closes a connection idle for 2 s (its keepalive): let the client drop it first.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=1.0)
    headers = {"X-Webhook-Secret": WEBHOOK_SECRET}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, limits=limits) as http:
        start = time.monotonic()

        async def one(i: int, name: str) -> Answer:
            await asyncio.sleep(max(start + i * window / len(names) - time.monotonic(), 0))
            posted = time.monotonic()
            for retries in range(RETRIES + 1):
                try:
                    response = await http.post("/webhooks/evolution", json=envelope(name))
                    break
                except httpx.TransportError:
                    if retries == RETRIES:
                        raise
            changed = response.status_code == 200 and response.json().get("mudou") is True
            now = time.monotonic()
            return Answer(name, response.status_code, changed, now - posted, now, retries)

        return await asyncio.gather(*(one(i, name) for i, name in enumerate(names)))


@dataclass
class CycleWatch:
    """The check cycle due at ``due``: when the scheduler queued it and when it started.

    The scheduler stores the id of the task it created in ``Schedule.task``; that task's row
    (``Task.started`` is when it was queued) is read as soon as it is saved, because django-q2
    prunes successful rows past ``save_limit`` and the wave's evaluations soon push it out.
    """

    due: datetime
    previous_task: str | None  # Schedule.task before the wave
    task_id: str | None = None
    seen_queued: datetime | None = None  # this process saw Schedule.task change (polling)
    queue_depth: int | None = None  # tasks in the ORM queue then, the cycle's own included
    queued_row: datetime | None = None
    started: datetime | None = None
    finished: bool = False

    @classmethod
    def before_wave(cls, due: datetime) -> CycleWatch:
        from django_q.models import Schedule

        return cls(due, Schedule.objects.get(name=CYCLE_SCHEDULE).task)

    @property
    def queued(self) -> datetime | None:
        return self.queued_row or self.seen_queued

    def poll(self) -> None:
        from django.utils import timezone
        from django_q.models import Schedule, Task

        from instances.models import CheckCycle

        if self.task_id is None:
            task = Schedule.objects.get(name=CYCLE_SCHEDULE).task
            if task != self.previous_task:
                self.task_id, self.seen_queued = task, timezone.now()
                self.queue_depth = queue_depth()
        if self.task_id is not None and self.queued_row is None:
            self.queued_row = Task.objects.filter(id=self.task_id).values_list("started", flat=True).first()
        if not self.finished:
            cycle = CheckCycle.objects.filter(started_at__gte=self.due).order_by("started_at").first()
            if cycle is not None:
                self.started, self.finished = cycle.started_at, cycle.finished_at is not None

    def after(self, moment: datetime | None) -> str:
        return f"+{(moment - self.due).total_seconds():.1f} s" if moment else "never"

    @property
    def queue_wait(self) -> float:
        if self.started is None or self.queued is None:
            return float("inf")
        return (self.started - self.queued).total_seconds()


def settle(fake: Any, cycle: CycleWatch, children: Children, timeout: float) -> float | None:
    """Wait until the cycle has run and nothing is left to do.

    Return when the last work ended (``time.monotonic()``), or None on timeout.
    """
    from django.utils import timezone

    from alerts.choices import NotificationState
    from alerts.models import Notification

    deadline = time.monotonic() + timeout
    posts, quiet_since = len(fake.messages), time.monotonic()
    while time.monotonic() < deadline:
        children.check_alive()
        cycle.poll()
        if len(fake.messages) != posts:
            posts, quiet_since = len(fake.messages), time.monotonic()
        due_now = Notification.objects.filter(state=NotificationState.PENDING, next_attempt_at__lte=timezone.now())
        if queue_depth() or due_now.exists():
            quiet_since = max(quiet_since, time.monotonic())
        if cycle.finished and time.monotonic() - quiet_since >= QUIET:
            return quiet_since
        time.sleep(0.25)
    return None


def report(
    args: argparse.Namespace,
    names: list[str],
    answers: list[Answer],
    fired_at: float,
    posts: list[Any],
    evaluations: tuple[int, int],
    cycle: CycleWatch,
    settled: float | None,
) -> bool:
    from django.conf import settings
    from django.db.models import Count
    from django.utils.timezone import localtime

    from alerts.channels.render import MAX_ITEMS
    from alerts.choices import NotificationKind
    from alerts.models import Alert, Notification

    ok_answers = sum(a.status == 200 for a in answers)
    changed = sum(a.changed for a in answers)
    took = max(a.answered for a in answers) - fired_at
    print(
        f"\nwebhooks: {len(answers)} sent over {args.window:g} s, all answered {took:.2f} s after the first "
        f"({len(answers) / took:.0f}/s); {ok_answers} answered 200, {changed} changed a status, "
        f"{sum(a.retries for a in answers)} retried"
    )
    print(f"  answer time: {spread([a.seconds for a in answers])}")

    wave = set(names)
    named = {n for p in posts for n in re.findall(rf"{PREFIX}\d{{4}}", post_text(p))} & wave
    alerted = Alert.objects.filter(instance__name__in=names).values("instance").distinct().count()
    slack = dict(
        Notification.objects.filter(alert__instance__name__in=names, channel="slack", kind=NotificationKind.FIRING)
        .values_list("state")
        .annotate(n=Count("id"))
    )
    print(
        f"Slack posts received: {len(posts)}, naming {len(named)} of {len(names)} instances "
        f"(a grouped post lists {MAX_ITEMS} alerts and counts the rest)"
    )
    for post in posts[:10]:
        print(f"  {first_line(post)}")
    if len(posts) > 10:
        print(f"  … and {len(posts) - 10} more")
    print(f"instances with an alert: {alerted} of {len(names)}; their Slack notifications by state: {slack or '{}'}")

    from_log, from_table = evaluations
    limit = settings.Q_CLUSTER.get("save_limit", 250)
    capped = f" (the table keeps its last {limit})" if from_table >= limit else ""
    if settled is not None:
        print(f"settled (queue empty, outbox sent) {settled - fired_at:.1f} s after the first webhook")
    print(f"evaluations run, from the wave until settled (the cycle's own included): {from_log}")
    print(f"  django-q2 Success rows for them: {from_table}{capped}")

    print(
        f"next check cycle: due {localtime(cycle.due):%H:%M:%S}, queued by the scheduler {cycle.after(cycle.queued)}, "
        f"started {cycle.after(cycle.started)} (queue wait {cycle.queue_wait:.1f} s; "
        f"{cycle.queue_depth} tasks queued when it was)"
    )

    targets = Targets()
    print("targets:")
    targets.check("settled within the timeout", settled is not None)
    targets.check(f"a handful of grouped posts (<= {args.max_posts})", 0 < len(posts) <= args.max_posts)
    targets.check("every dropped instance alerted", alerted == len(names))
    targets.check(f"evaluations bounded (<= {args.max_evaluations})", from_log <= args.max_evaluations)
    targets.check(f"next cycle not delayed (queue wait <= {MAX_QUEUE_WAIT:g} s)", cycle.queue_wait <= MAX_QUEUE_WAIT)
    return not targets.missed


def measure(args: argparse.Namespace, logs: Path) -> bool:
    from django.core.management import call_command
    from django.utils import timezone
    from django_q.models import Success

    from instances.simulator import GatewaySimulator
    from tests.fakes.slack import FakeSlack

    call_command("createcachetable", verbosity=0)  # circuit state for children without Redis
    names = [f"{PREFIX}{i:04d}" for i in range(1, args.instances + 1)]
    steady = [f"{PREFIX}fica-{i}" for i in range(1, STEADY + 1)]
    seed_connected(names + steady)
    children = Children(logs)
    with GatewaySimulator(api_key=API_KEY) as sim, FakeSlack() as fake:
        for name in names + steady:
            sim.add_instance(name, state="open")
        env = child_env(
            slack_url=fake.url_webhook,
            gateway_url=sim.url,
            api_key=API_KEY,
            webhook_secret=WEBHOOK_SECRET,
            debounce=args.debounce,
        )
        port = free_port()
        app = "julia_monitor.wsgi:application"
        if args.no_coalesce:
            app = f"{Path(__file__).stem}:uncoalesced_application()"
        web = [sys.executable, "-m", "gunicorn", app, "--pythonpath", str(Path(__file__).parent)]
        web += ["-k", "gthread", "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5"]
        try:
            children.start("web", web, env)
            children.start("qcluster", [sys.executable, "manage.py", "qcluster"], env)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                wait_until_serving(http, children)
            print("waiting for the worker's first check cycle ...", flush=True)
            wait_for_first_cycle(children)
            due = next_cycle_due(args.lead, children)
            local = timezone.localtime(due)
            print(f"firing {len(names)} close webhooks over {args.window:g} s; cycle due {local:%H:%M:%S}", flush=True)
            post_mark, log_mark, wave_start = len(fake.messages), processed_evaluations(children), timezone.now()
            cycle = CycleWatch.before_wave(due)
            for name in names:
                sim.set_state(name, "close", code=401)  # the cycle must see what the webhooks said
            fired_at = time.monotonic()
            answers = asyncio.run(fire_all(f"http://127.0.0.1:{port}", names, args.window, args.concurrency))
            print("waiting for the alerts to settle and the cycle to run ...", flush=True)
            settled = settle(fake, cycle, children, args.timeout)
            evaluations = (
                processed_evaluations(children) - log_mark,
                Success.objects.filter(func=EVALUATION_TASK, started__gte=wave_start).count(),
            )
            return report(args, names, answers, fired_at, list(fake.messages[post_mark:]), evaluations, cycle, settled)
        finally:
            children.stop()
            wait_for_disconnect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=1000, help="instances that drop (default 1000)")
    parser.add_argument("--window", type=float, default=2.0, help="seconds to send the webhooks over (default 2)")
    parser.add_argument("--concurrency", type=int, default=32, help="webhooks in flight at once (default 32)")
    parser.add_argument("--lead", type=float, default=5.0, help="start this long before the next cycle is due")
    parser.add_argument("--debounce", type=int, default=0, help="OFFLINE_DEBOUNCE_SECONDS of the children (0)")
    parser.add_argument("--max-posts", type=int, default=10, help="target: at most this many Slack posts (10)")
    parser.add_argument("--max-evaluations", type=int, default=20, help="target: at most this many evaluations (20)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up settling after this long (900 s)")
    parser.add_argument(
        "--no-coalesce", action="store_true", help="baseline: one evaluation queued per webhook, as before"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the children's logs and print where")
    args = parser.parse_args()
    if not 1 <= args.instances <= 9999 or args.concurrency < 1 or min(args.window, args.lead, args.debounce) < 0:
        parser.error("need 1 <= --instances <= 9999, --concurrency >= 1 and --window, --lead, --debounce >= 0")
    if not require_postgresql():
        return 2

    no_proxy_for_loopback()
    exit_on_sigterm()
    logs = Path(tempfile.mkdtemp(prefix="webhook-wave-"))
    started = datetime.now()
    try:
        with bench_database() as where:
            mode = "one evaluation per webhook (--no-coalesce)" if args.no_coalesce else "coalesced evaluations"
            print(
                f"database: {where}; gunicorn + qcluster ({'Redis' if os.environ.get('REDIS_URL') else 'ORM'} broker); "
                f"{mode}; started {started:%H:%M:%S}",
                flush=True,
            )
            ok = measure(args, logs)
    except KeyboardInterrupt:
        print("interrupted: children stopped, bench database dropped")
        return 130
    finally:
        if args.keep_logs:
            print(f"children's logs: {logs}")
        else:
            for path in logs.iterdir():
                path.unlink()
            logs.rmdir()
    print("all targets met" if ok else "a target was missed: exit status 1")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
