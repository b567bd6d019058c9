"""Alert latency: from a ``connection.update`` webhook reporting a close to the Slack post, worker running.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> REDIS_URL=redis://127.0.0.1:6379/<n> \\
        .venv/bin/python bench/alert_latency.py [--alerts 30] [--spacing 2.5] [--server gunicorn|runserver]

Target: p95 under 2 s. On a fresh test database (``_setup.bench_database``; PostgreSQL
only, as two processes must share it) the bench starts, as real processes on loopback, the web
server (gunicorn as in the README, or ``runserver --noreload``) and the django-q2 worker
(``manage.py qcluster``), production-like (``DEBUG=false``). It runs, in its own process, a fake
Slack (the real slack-sdk of the worker posts to it) and the gateway simulator, kept in step with
the webhooks so the worker's own minute check cycle agrees with them.

``--alerts`` instances connected for an hour (plus a few that stay connected, so the fleet alert
never fires) each get, ``--spacing`` seconds apart, a webhook ``state: close, statusReason: 401``
(terminal: the offline alert fires at once). Measured: from just before the POST to the moment
the fake Slack receives the post naming that instance. Two warm-up alerts go first and are
reported apart. Printed: min / median / p95 / max against the target, and where the time goes
(request, queue wait, evaluation + log, Slack post) read from the task, alert and outbox rows.
The children are stopped (SIGTERM, then SIGKILL) on every exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import os
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
    child_env,
    exit_on_sigterm,
    free_port,
    no_proxy_for_loopback,
    percentile,
    require_postgresql,
    seed_connected,
    spread,
    wait_for_disconnect,
    wait_until_serving,
)
from _setup import bench_database

TARGET_P95 = 2.0
API_KEY = "bench-latency-key"
WEBHOOK_SECRET = "bench-latency-webhook-secret-0123456789"  # 32+: DEBUG is off
WARMUPS = 2
STEADY = 5
SAMPLE_TIMEOUT = 15.0
FIRST_TIMEOUT = 90.0  # the first alert also waits for the worker to boot


@dataclass
class Sample:
    name: str
    posted_wall: float  # time.time() just before the POST
    posted: float  # time.monotonic(), same instant
    answered: float  # time.monotonic() when the webhook answered
    status: int
    post: Any = None  # the fake Slack's SlackPost naming the instance

    @property
    def latency(self) -> float:
        return self.post.monotonic - self.posted if self.post is not None else float("inf")


def is_firing_post_for(post: Any, name: str) -> bool:
    """Whether the post announces the instance's offline alert (alone or in a group), not its resolution."""
    return any(f"Instância {name} offline" in line and "Resolvido" not in line for line in post.text.splitlines())


def wait_for_post(fake: Any, name: str, since: int, timeout: float, children: Children) -> Any:
    """Return the first post from index ``since`` on that names the instance, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for post in list(fake.messages[since:]):
            if is_firing_post_for(post, name):
                return post
        children.check_alive()
        time.sleep(0.005)  # the fake stamps the arrival itself: polling does not blur the figure
    return None


def fire(http: httpx.Client, sim: Any, fake: Any, name: str, timeout: float, children: Children) -> Sample:
    sim.set_state(name, "close", code=401)  # the minute check cycle must see what the webhook said
    body = {
        "event": "connection.update",
        "instance": name,
        "data": {"instance": name, "state": "close", "statusReason": 401},
    }
    since = len(fake.messages)
    posted_wall, posted = time.time(), time.monotonic()
    response = http.post("/webhooks/evolution", json=body)
    sample = Sample(name, posted_wall, posted, time.monotonic(), response.status_code)
    if response.status_code != 200 or not response.json().get("mudou"):
        print(f"  unexpected webhook answer for {name}: {response.status_code} {response.text[:200]}")
    sample.post = wait_for_post(fake, name, since, timeout, children)
    return sample


@dataclass
class Stages:
    request_to_enqueue: list[float]
    queue_wait: list[float]
    evaluate_and_log: list[float]
    slack_post: list[float]
    task_tail: list[float]


def stages(samples: list[Sample]) -> Stages:
    """Split each latency at the rows the pipeline left: task enqueued, alert opened, log sent, Slack received."""
    from django_q.models import Task

    from alerts.choices import Rule
    from alerts.models import Alert, Notification

    found = Stages([], [], [], [], [])
    deadline = time.monotonic() + 5  # the worker's monitor saves a task's row just after it ends
    while True:
        tasks = sorted(
            Task.objects.filter(func="alerts.tasks.evaluate_and_deliver").values_list("started", "stopped"),
            key=lambda row: row[0],
        )
        if len(tasks) >= len(samples) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for s in samples:
        if s.post is None:
            continue
        answered_wall = s.posted_wall + (s.answered - s.posted)
        task = next((t for t in tasks if s.posted_wall - 0.01 <= t[0].timestamp() <= answered_wall + 0.01), None)
        alert = (
            Alert.objects.filter(instance__name=s.name, rule=Rule.INSTANCE_OFFLINE, first_seen_at__gte=task[0])
            .order_by("first_seen_at")
            .first()
            if task is not None
            else None
        )
        if task is None or alert is None:
            continue
        sent = dict(Notification.objects.filter(alert=alert).values_list("channel", "sent_at"))
        if sent.get("log") is None:
            continue
        enqueued, opened, logged = task[0].timestamp(), alert.first_seen_at.timestamp(), sent["log"].timestamp()
        found.request_to_enqueue.append(enqueued - s.posted_wall)
        found.queue_wait.append(opened - enqueued)
        found.evaluate_and_log.append(logged - opened)
        found.slack_post.append(s.post.received_at - logged)
        if task[1] is not None:
            found.task_tail.append(task[1].timestamp() - s.post.received_at)
    return found


def report(samples: list[Sample], warmups: list[Sample], load: tuple[tuple[float, ...], tuple[float, ...]]) -> bool:
    latencies = [s.latency for s in samples]
    arrived = [x for x in latencies if x != float("inf")]
    answers = [(s.answered - s.posted) for s in samples]
    print(f"\nwarm-up alerts (not counted): {', '.join(f'{s.latency:.3f} s' for s in warmups)}")
    print(f"webhook answered: {spread(answers)}")
    print(f"webhook -> Slack post, {len(arrived)}/{len(samples)} arrived: {spread(arrived)}")
    p95 = percentile(latencies, 95) if len(arrived) == len(samples) else float("inf")
    ok = p95 < TARGET_P95
    print(f"target: p95 < {TARGET_P95:g} s -> {'OK' if ok else 'MISSED'} (p95 {p95:.3f} s)")
    found = stages(samples)
    print(f"where the time goes ({len(found.queue_wait)} samples matched to their task, alert and outbox rows):")
    for label, values in (
        ("request until task enqueued", found.request_to_enqueue),
        ("queue wait until evaluation starts", found.queue_wait),
        ("evaluation + log line", found.evaluate_and_log),
        ("Slack post (render + HTTP)", found.slack_post),
        ("after the post, task end (not in latency)", found.task_tail),
    ):
        print(f"  {label:<44} {spread(values)}")
    before, after = load
    print(
        "load average before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(*before, *after)
        + f" ({os.cpu_count()} CPUs)"
    )
    return ok


def consistency(posts: list[Any], names: list[str]) -> bool:
    """Check that each instance, closed once and never back, has one open alert and one firing post."""
    from django.db.models import Count, Q

    from alerts.choices import AlertState, Rule
    from instances.models import Instance

    rows = Instance.objects.filter(name__in=names).annotate(
        opened=Count("alerts", filter=Q(alerts__rule=Rule.INSTANCE_OFFLINE)),
        resolved=Count("alerts", filter=Q(alerts__rule=Rule.INSTANCE_OFFLINE, alerts__state=AlertState.RESOLVED)),
    )
    flapped = sorted(r.name for r in rows if r.resolved)
    reopened = sorted(r.name for r in rows if r.opened > 1)
    firing = {n: sum(is_firing_post_for(p, n) for p in posts) for n in names}
    resolution_lines = sum(
        1 for p in posts for line in p.text.splitlines() if "Resolvido" in line and any(n in line for n in names)
    )
    repeated = sorted(n for n, count in firing.items() if count > 1)
    ok = not flapped and not reopened and not repeated and all(firing.values())
    print(
        f"consistency ({len(names)} instances closed once, never back): "
        + ("OK, one open alert and one Slack post each" if ok else "BROKEN")
    )
    if not ok:
        print(f"  alerts resolved while the instance is still offline: {len(flapped)} ({', '.join(flapped[:5])} …)")
        print(f"  alerts opened a second time: {len(reopened)}; instances posted as offline twice: {len(repeated)}")
        print(f"  'Resolvido' lines posted for these instances: {resolution_lines}; Slack posts in all: {len(posts)}")
    return ok


def measure(args: argparse.Namespace, logs: Path) -> bool:
    from django.core.management import call_command

    from instances.simulator import GatewaySimulator
    from tests.fakes.slack import FakeSlack

    call_command("createcachetable", verbosity=0)  # circuit state for children without Redis
    names = [f"lat-{i:03d}" for i in range(1, args.alerts + 1)]
    warm = [f"lat-warm-{i}" for i in range(1, WARMUPS + 1)]
    steady = [f"lat-steady-{i}" for i in range(1, STEADY + 1)]
    seed_connected(warm + names + steady)
    children = Children(logs)
    with GatewaySimulator(api_key=API_KEY) as sim, FakeSlack() as fake:
        for name in warm + names + steady:
            sim.add_instance(name, state="open")
        env = child_env(
            slack_url=fake.url_webhook,
            gateway_url=sim.url,
            api_key=API_KEY,
            webhook_secret=WEBHOOK_SECRET,
            debounce=args.debounce,
        )
        port = free_port()
        if args.server == "gunicorn":
            web = [sys.executable, "-m", "gunicorn", "julia_monitor.wsgi:application", "-k", "gthread"]
            web += ["-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5"]
        else:
            web = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
        try:
            children.start("web", web, env)
            children.start("qcluster", [sys.executable, "manage.py", "qcluster"], env)
            headers = {"X-Webhook-Secret": WEBHOOK_SECRET}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as http:
                wait_until_serving(http, children)
                warmups = []
                for i, name in enumerate(warm):
                    warmups.append(fire(http, sim, fake, name, FIRST_TIMEOUT if i == 0 else SAMPLE_TIMEOUT, children))
                    if warmups[-1].post is None:
                        raise RuntimeError(f"no Slack post for the warm-up alert:\n{children.tail('qcluster')}")
                    time.sleep(args.spacing)
                print(f"measuring {len(names)} alerts, {args.spacing:g} s apart ...", flush=True)
                before = os.getloadavg()
                samples = []
                for name in names:
                    slot = time.monotonic() + args.spacing
                    samples.append(fire(http, sim, fake, name, SAMPLE_TIMEOUT, children))
                    time.sleep(max(slot - time.monotonic(), 0))
                after = os.getloadavg()
            fast = report(samples, warmups, (before, after))
            consistent = consistency(list(fake.messages), warm + names)
            print(
                f"latency {'OK' if fast else 'MISSED'}, consistency {'OK' if consistent else 'BROKEN'}"
                + ("" if fast and consistent else ": exit status 1")
            )
            return fast and consistent
        finally:
            children.stop()
            wait_for_disconnect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=30, help="measured alerts (default 30)")
    parser.add_argument("--spacing", type=float, default=2.5, help="seconds between webhooks (default 2.5)")
    parser.add_argument("--server", choices=["gunicorn", "runserver"], default="gunicorn")
    parser.add_argument("--debounce", type=int, default=60, help="OFFLINE_DEBOUNCE_SECONDS of the children")
    parser.add_argument("--keep-logs", action="store_true", help="keep the children's logs and print where")
    args = parser.parse_args()
    if args.alerts < 2 or args.spacing <= 0 or args.debounce < 0:
        parser.error("need --alerts >= 2, --spacing > 0 and --debounce >= 0")
    if not require_postgresql():
        return 2

    no_proxy_for_loopback()
    exit_on_sigterm()
    logs = Path(tempfile.mkdtemp(prefix="alert-latency-"))
    started = datetime.now()
    try:
        with bench_database() as where:
            print(
                f"database: {where}; web: {args.server}, worker: qcluster "
                f"({'Redis' if os.environ.get('REDIS_URL') else 'ORM'} broker); started {started:%H:%M:%S}",
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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
