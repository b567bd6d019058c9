"""Benchmark delivery through a Slack outage: 429 (or 500) for five simulated minutes, then recovery.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/slack_outage.py \\
        [--mode 429|500|both] [--alerts 50] [--batches 20] [--outage 300] [--duration 600] [--step 5]

A real fake Slack (``tests/fakes/slack.py``, the real slack-sdk talking HTTP on loopback) answers
every post with 429 + ``Retry-After`` (or 500) until a simulated clock reaches the end of the
outage. Alerts open (and some resolve) in batches spread over the outage, each queued in the
outbox as the rules engine does (``Alert.notify``); delivery passes run every ``--step``
simulated seconds with ``now=`` and a sleep that only moves the simulated clock, so ten minutes
take a few seconds. Printed per scenario: queued, delivered, duplicates the fake received
(target 0), lost (target 0), and the first and last delivery after recovery (target: the
backlog within a minute). Runs on a fresh test database (``_setup.bench_database``).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from _setup import bench_database

ALERT_URL = re.compile(r"/alertas/(\d+)/")


@dataclass
class SimClock:
    """The simulated time: moved by the bench between passes and by the passes' own sleeps."""

    now: datetime
    slept: float = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.slept += seconds


@dataclass
class Plan:
    """One batch: when its evaluation ran, which alerts it opens and which earlier ones it resolves."""

    at: datetime
    opens: list[int]
    resolves: list[int] = field(default_factory=list)


def make_plan(start: datetime, alerts: int, batches: int, outage: float) -> list[Plan]:
    spacing = outage / batches
    plans = [Plan(start + timedelta(seconds=i * spacing), []) for i in range(batches)]
    for n in range(alerts):
        plans[n * batches // alerts].opens.append(n)
    # The last 40 % of the batches also resolve the alerts of the first ones: firing/resolved pairs.
    late = int(batches * 0.6)
    for i in range(late, batches):
        plans[i].resolves = list(plans[i - late].opens)
    return plans


def run_batch(plan: Plan, instances: list[Any], opened: dict[int, Any]) -> None:
    from alerts.choices import EventKind, NotificationKind, Rule, Severity
    from alerts.models import Alert, AlertEvent, new_batch

    batch = new_batch()
    for n in plan.opens:
        instance = instances[n]
        alert = Alert.objects.create(
            rule=Rule.INSTANCE_OFFLINE,
            severity=Severity.ERROR,
            instance=instance,
            key=f"{Rule.INSTANCE_OFFLINE}:{instance.pk}",
            title=f"Instância {instance.name} offline",
            message=f"{instance.name} está desconectada (bench).",
            first_seen_at=plan.at,
            last_seen_at=plan.at,
        )
        AlertEvent.objects.create(alert=alert, kind=EventKind.OPENED, created_at=plan.at)
        alert.queue_notifications(NotificationKind.FIRING, batch, plan.at)
        opened[n] = alert
    for n in plan.resolves:
        opened[n].resolve(at=plan.at, batch=batch)


def received_items(posts: list[Any]) -> Counter[tuple[int, str]]:
    """Return how often the fake Slack received each (alert, firing|resolved), read from the posts."""
    seen: Counter[tuple[int, str]] = Counter()
    for post in posts:
        for line in post.text.splitlines():
            for found in ALERT_URL.finditer(line):
                seen[(int(found.group(1)), "resolved" if "Resolvido:" in line else "firing")] += 1
    return seen


def scenario(status: int, args: argparse.Namespace) -> bool:
    from django.conf import settings
    from django.utils import timezone

    from alerts.choices import NotificationState
    from alerts.delivery import deliver_due
    from alerts.models import Alert, AlertEvent, ChannelStatus, Notification
    from instances.models import Instance, Status
    from tests.fakes.slack import FakeSlack

    for model in (Notification, AlertEvent, Alert, ChannelStatus, Instance):
        model.objects.all().delete()
    instances = [
        Instance.objects.create(
            name=f"bench-outage-{n:03}", status=Status.DISCONNECTED, capacity_per_hour=30, capacity_per_day=200
        )
        for n in range(args.alerts)
    ]
    Instance.objects.create(name="bench-outage-ok", status=Status.CONNECTED, capacity_per_hour=30, capacity_per_day=200)

    start = timezone.now().replace(microsecond=0)
    clock = SimClock(start)
    recovered_at = start + timedelta(seconds=args.outage)
    end = start + timedelta(seconds=args.duration)
    plans = make_plan(start, args.alerts, args.batches, args.outage)
    opened: dict[int, Any] = {}

    wall = time.perf_counter()
    with FakeSlack() as fake:
        settings.SLACK_WEBHOOK_URL = fake.url_webhook
        settings.SLACK_BOT_TOKEN = ""
        settings.SLACK_TIMEOUT = 5
        retry_after = args.retry_after if status == 429 else None
        fake.fail_until(lambda: clock.now >= recovered_at, status=status, retry_after=retry_after)
        passes, longest = 0, 0.0
        while clock.now < end:
            while plans and plans[0].at <= clock.now:
                run_batch(plans.pop(0), instances, opened)
            began = clock.now
            deliver_due(clock.now, sleep=clock.sleep)
            passes += 1
            longest = max(longest, (clock.now - began).total_seconds())
            clock.now = max(clock.now, began + timedelta(seconds=args.step))
        posts = list(fake.messages)
        answers = Counter(code for _path, code in fake.attempts)
    wall = time.perf_counter() - wall

    slack = Notification.objects.filter(channel="slack")
    expected = {(row.alert_id, row.kind) for row in slack}
    got = received_items(posts)
    duplicates = sum(n - 1 for n in got.values())
    lost = len(expected - set(got)) + slack.exclude(state=NotificationState.SENT).count()
    sent_at = sorted(slack.filter(state=NotificationState.SENT).values_list("sent_at", flat=True))
    after = [(at - recovered_at).total_seconds() for at in sent_at]
    log = Notification.objects.filter(channel="log")

    what = f"{status} + Retry-After {args.retry_after:g} s" if status == 429 else f"HTTP {status}"
    print(
        f"\nscenario: Slack answers {what} for {args.outage / 60:g} simulated min, then recovers;"
        f" passes every {args.step:g} s for {args.duration / 60:g} min"
    )
    print(
        f"  queued:     {slack.count()} Slack notifications ({args.alerts} alerts, {args.batches} batches,"
        f" {slack.filter(kind='resolved').count()} resolutions) + {log.count()} log"
    )
    print(
        f"  delivered:  {slack.filter(state=NotificationState.SENT).count()}/{slack.count()} Slack"
        f" in {len(posts)} posts, {log.filter(state=NotificationState.SENT).count()}/{log.count()} log"
    )
    print(f"  duplicates received by the fake Slack: {duplicates}")
    print(f"  lost: {lost}")
    if after:
        print(f"  delivered before recovery: {sum(1 for s in after if s < 0)} (must be 0)")
        print(f"  first delivery after recovery: +{min(after):.0f} s; last: +{max(after):.0f} s")
    print(
        f"  Slack answers: {dict(sorted(answers.items()))}; max attempts spent by one notification:"
        f" {max(slack.values_list('attempts', flat=True), default=0)} of {settings.NOTIFICATION_MAX_ATTEMPTS}"
    )
    print(f"  passes: {passes}, longest {longest:.1f} simulated s (task timeout 50 s); wall time {wall:.1f} s")
    return duplicates == 0 and lost == 0 and bool(after) and min(after) >= 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["429", "500", "both"], default="both")
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--outage", type=float, default=300.0, help="simulated seconds of outage (default 300)")
    parser.add_argument("--duration", type=float, default=600.0, help="simulated seconds in all (default 600)")
    parser.add_argument("--step", type=float, default=5.0, help="simulated seconds between passes (default 5)")
    parser.add_argument("--retry-after", type=float, default=30.0, help="the 429's Retry-After (default 30)")
    args = parser.parse_args()
    if min(args.alerts, args.batches) < 1 or args.alerts < args.batches or args.step <= 0:
        parser.error("need alerts >= batches >= 1 and a positive step")

    # slack-sdk honours HTTP(S)_PROXY: the fake is on loopback.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    with bench_database() as where:
        # The per-attempt warnings would drown the figures; give-ups (ERROR) still print.
        logging.getLogger("alerts").setLevel(logging.CRITICAL + 1)
        logging.getLogger("alerts.delivery").setLevel(logging.ERROR)
        print(f"database: {where}")
        ok = all(scenario(int(mode), args) for mode in (["429", "500"] if args.mode == "both" else [args.mode]))
    print("\nOK: nothing lost, nothing duplicated" if ok else "\nFAILED: see the figures above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
