"""A storm: most of the fleet goes offline in one cycle; Slack gets a handful of posts and nothing is lost.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> REDIS_URL=redis://127.0.0.1:6379/<n> \\
        .venv/bin/python bench/alert_storm.py [--instances 300] [--offline 200] [--max-posts 5]

Runs the real pipeline in one process on a fresh test database (``_setup.bench_database``): the
gateway simulator on loopback, the real check cycle (``run_cycle``), the rules (``evaluate``) and
a delivery pass (``deliver_due``) posting through the real slack-sdk to a fake Slack (webhook
mode). A round is cycle + evaluate + deliver at a simulated time (``now=``), 30 s after the
previous one, so the offline debounce passes without waiting; Slack pacing sleeps for real.

Scenario "partial": ``--offline`` of ``--instances`` close without a code (the debounce applies),
then all come back. Scenario "all": the whole fleet closes (the urgent "all offline" alert fires,
per-instance alerts are recorded but not posted), then comes back. Printed per phase: alerts
opened or resolved, notifications per channel, Slack posts, alert log lines, and the targets.
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from _alerting import AlertLogCounter, Targets, first_line, install_log_counter, no_proxy_for_loopback
from _setup import bench_database

API_KEY = "bench-storm-key"
STEP = timedelta(seconds=30)
MAX_ROUNDS = 12


@dataclass
class Pacer:
    """The delivery pass's sleep: real (pacing is part of the figure), and counted."""

    waits: int = 0
    seconds: float = 0.0

    def __call__(self, seconds: float) -> None:
        self.waits += 1
        self.seconds += seconds
        time.sleep(seconds)


@dataclass
class Phase:
    """Marks taken before a phase (going down, coming back): what it wrote is counted from them."""

    label: str
    started: datetime
    alert_mark: int
    notification_mark: int
    post_mark: int
    log_mark: tuple[int, int]
    rounds: int = 0
    wall: float = 0.0
    trace: list[str] = field(default_factory=list)


@dataclass
class Run:
    """One scenario's moving parts."""

    sim: Any
    client: Any
    fake: Any
    counter: AlertLogCounter
    pacer: Pacer
    clock: datetime

    def phase(self, label: str) -> Phase:
        from django.db.models import Max

        from alerts.models import Alert, Notification

        return Phase(
            label=label,
            started=self.clock,
            alert_mark=Alert.objects.aggregate(m=Max("pk"))["m"] or 0,
            notification_mark=Notification.objects.aggregate(m=Max("pk"))["m"] or 0,
            post_mark=len(self.fake.messages),
            log_mark=self.counter.mark(),
        )


def run_round(run: Run, phase: Phase) -> tuple[int, int]:
    """One minute of the monitor, compressed: cycle, evaluation, delivery; return (opened, resolved)."""
    from alerts.delivery import deliver_due
    from alerts.rules import evaluate
    from instances.checks import run_cycle

    run.clock += STEP
    cycle = run_cycle(now=run.clock, client=run.client)
    evaluation = evaluate(run.clock)
    delivery = deliver_due(run.clock, sleep=run.pacer)
    phase.rounds += 1
    offset = int((run.clock - phase.started).total_seconds())
    phase.trace.append(f"t+{offset:>3}s  cycle: {cycle}\n           alerts: {evaluation}; delivery: {delivery}")
    return len(evaluation.opened), len(evaluation.resolved)


def settle(run: Run, phase: Phase, quiet_after: datetime) -> None:
    """Run rounds until past ``quiet_after`` a round changes nothing and nothing waits in the outbox."""
    from alerts.choices import NotificationState
    from alerts.models import Notification

    started = time.perf_counter()
    for _ in range(MAX_ROUNDS):
        opened, resolved = run_round(run, phase)
        pending = Notification.objects.filter(state=NotificationState.PENDING).count()
        if run.clock >= quiet_after and not opened and not resolved and not pending:
            break
    phase.wall = time.perf_counter() - started
    for line in phase.trace:
        print(f"    {line}")


def written(phase: Phase, kind: str) -> dict[str, Counter[str]]:
    """Return {channel: Counter(state)} of the notifications of ``kind`` the phase wrote."""
    from alerts.models import Notification

    rows = Notification.objects.filter(pk__gt=phase.notification_mark, kind=kind)
    found: dict[str, Counter[str]] = {}
    for channel, state in rows.values_list("channel", "state"):
        found.setdefault(channel, Counter())[state] += 1
    return found


def describe_written(found: dict[str, Counter[str]]) -> str:
    if not found:
        return "none"
    return "; ".join(
        f"{channel} {sum(states.values())} ({', '.join(f'{n} {s}' for s, n in sorted(states.items()))})"
        for channel, states in sorted(found.items())
    )


def print_posts(posts: list[Any]) -> None:
    print(f"    Slack posts received: {len(posts)}")
    for post in posts:
        more = next((line for line in post.text.splitlines() if "outros" in line), "")
        print(f"      - {first_line(post)}" + (f"  [{more.split(' · ')[0]}]" if more else ""))


def going_down(run: Run, names: list[str], whole_fleet: bool, args: argparse.Namespace, targets: Targets) -> None:
    from django.conf import settings

    from alerts.choices import EventKind, NotificationKind, Rule
    from alerts.models import Alert, AlertEvent

    phase = run.phase("down")
    for name in names:
        run.sim.set_state(name, "close")  # no code: not terminal, the offline debounce applies
    print(f"\n  {len(names)} of {args.instances} instances close (no code); rounds every {STEP.seconds} s simulated:")
    settle(run, phase, phase.started + timedelta(seconds=settings.OFFLINE_DEBOUNCE_SECONDS) + 2 * STEP)

    alerts = Alert.objects.filter(pk__gt=phase.alert_mark)
    by_rule = Counter(alerts.values_list("rule", flat=True))
    suppressed = alerts.filter(suppressed=True).count()
    firing = written(phase, NotificationKind.FIRING)
    posts = run.fake.messages[phase.post_mark :]
    log_lines = run.counter.firing - phase.log_mark[0]
    print(
        f"    alerts opened: {alerts.count()} ({', '.join(f'{n} {r}' for r, n in sorted(by_rule.items()))}),"
        f" {suppressed} suppressed by the fleet alert"
    )
    print(f"    notifications written: {describe_written(firing)}")
    print_posts(posts)
    print(f"    alert log lines written: {log_lines}")
    print(f"    rounds: {phase.rounds}, wall time {phase.wall:.1f} s, pacing waits {run.pacer.waits}")

    slack, log = firing.get("slack", Counter()), firing.get("log", Counter())
    targets.check(f"{len(names)} instance-offline alerts opened", by_rule[Rule.INSTANCE_OFFLINE] == len(names))
    targets.check(f"Slack posts between 1 and {args.max_posts}", 1 <= len(posts) <= args.max_posts)
    targets.check("one log line per alert", log_lines == alerts.count())
    targets.check("every log notification sent", log["sent"] == alerts.count() == sum(log.values()))
    targets.check(
        "every alert's opening recorded in its timeline",
        AlertEvent.objects.filter(alert__in=alerts, kind=EventKind.OPENED).count() == alerts.count(),
    )
    if whole_fleet:
        targets.check("the all-offline fleet alert opened once", by_rule[Rule.ALL_OFFLINE] == 1)
        targets.check("per-instance alerts inhibited (suppressed, not posted)", suppressed == len(names))
        targets.check("Slack: one notification (the fleet alert), sent", slack == Counter(sent=1))
        urgent = [p for p in posts if "SISTEMA CRÍTICO" in p.text]
        targets.check(
            "the urgent post mentions <!channel>",
            bool(urgent) and all(p.text.startswith("<!channel>") for p in urgent),
        )
    else:
        targets.check("no fleet alert (some instances still online)", by_rule[Rule.ALL_OFFLINE] == 0)
        targets.check(f"Slack: {len(names)} notifications, all sent", slack == Counter(sent=len(names)))
        targets.check("no <!channel> mention", not any("<!channel>" in p.text for p in posts))


def coming_back(run: Run, names: list[str], args: argparse.Namespace, targets: Targets) -> None:
    from alerts.choices import AlertState, EventKind, NotificationKind
    from alerts.models import Alert, AlertEvent, Notification

    phase = run.phase("up")
    for name in names:
        run.sim.set_state(name, "open")
    print(f"\n  the {len(names)} instances come back:")
    settle(run, phase, phase.started + STEP)

    resolved = Alert.objects.filter(state=AlertState.RESOLVED, resolved_at__gt=phase.started)
    resolutions = written(phase, NotificationKind.RESOLVED)
    posts = run.fake.messages[phase.post_mark :]
    log_lines = run.counter.resolved - phase.log_mark[1]
    slack_resolved = Notification.objects.filter(channel="slack", kind=NotificationKind.RESOLVED)
    undelivered = slack_resolved.exclude(state="sent").count()
    print(f"    alerts resolved: {resolved.count()}; still open: {Alert.objects.open().count()}")
    print(f"    resolution notifications: {describe_written(resolutions)}")
    print_posts(posts)
    print(f"    alert log lines written: {log_lines}")
    print(f"    every resolution delivered: {'yes' if not undelivered else f'NO, {undelivered} not sent'}")
    print(f"    rounds: {phase.rounds}, wall time {phase.wall:.1f} s")

    opened = Alert.objects.count()
    targets.check("every alert resolved", resolved.count() == opened and not Alert.objects.open().exists())
    targets.check(f"Slack posts for the recovery between 1 and {args.max_posts}", 1 <= len(posts) <= args.max_posts)
    targets.check(
        "every resolution delivered (each RESOLVED Slack notification sent)",
        slack_resolved.count() == opened and undelivered == 0,
    )
    targets.check("one resolved log line per alert", log_lines == opened)
    targets.check(
        "every resolution recorded in its alert's timeline",
        AlertEvent.objects.filter(kind=EventKind.RESOLVED).count() == opened,
    )
    targets.check("no <!channel> in the recovery", not any("<!channel>" in p.text for p in posts))


def reset() -> None:
    from django.core.cache import caches

    from alerts.models import Alert, AlertEvent, ChannelStatus, Notification
    from instances.models import CheckCycle, Instance, MonitorLease, StatusChange
    from julia_monitor.lib.circuits import CircuitBreaker

    for model in (Notification, AlertEvent, Alert, ChannelStatus, StatusChange, CheckCycle, MonitorLease, Instance):
        model.objects.all().delete()
    caches["shared"].delete(CircuitBreaker("gateway").key)


def scenario(label: str, down: int, args: argparse.Namespace, counter: AlertLogCounter, targets: Targets) -> None:
    from django.conf import settings
    from django.utils import timezone

    from instances.gateway import EvolutionClient
    from instances.models import Instance, Status
    from instances.simulator import GatewaySimulator
    from tests.fakes.slack import FakeSlack

    reset()
    names = [f"storm-{i:03d}" for i in range(1, args.instances + 1)]
    with GatewaySimulator(api_key=API_KEY, seed=7) as sim, FakeSlack() as fake:
        for name in names:
            sim.add_instance(name, state="open")
        settings.SLACK_WEBHOOK_URL = fake.url_webhook
        settings.SLACK_BOT_TOKEN = ""
        client = EvolutionClient(sim.url, API_KEY, timeout=5, concurrency=50)
        run = Run(sim, client, fake, counter, Pacer(), timezone.now().replace(microsecond=0))
        print(f"\nscenario {label}: {down} of {args.instances} instances go offline in one cycle, then come back")
        discovery = run.phase("discovery")
        run_round(run, discovery)
        online = Instance.objects.filter(status=Status.CONNECTED).count()
        print(f"    {discovery.trace[0]}")
        targets.check(f"discovery: {args.instances} instances, all connected, no alert", online == args.instances)
        going_down(run, names[:down], down == args.instances, args, targets)
        coming_back(run, names[:down], args, targets)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=300, help="fleet size (default 300)")
    parser.add_argument("--offline", type=int, default=200, help="instances that go offline (default 200)")
    parser.add_argument("--max-posts", type=int, default=5, help="Slack posts allowed per phase (default 5)")
    parser.add_argument(
        "--interval", type=float, default=0.2, help="CHANNEL_MIN_INTERVAL_SECONDS for the bench (default 0.2)"
    )
    parser.add_argument("--scenario", choices=["partial", "all", "both"], default="both")
    args = parser.parse_args()
    if not 1 <= args.offline < args.instances or args.max_posts < 1 or args.interval < 0:
        parser.error("need 1 <= --offline < --instances, --max-posts >= 1, --interval >= 0")

    no_proxy_for_loopback()
    with bench_database() as where:
        from django.conf import settings
        from django.core.management import call_command

        call_command("createcachetable", verbosity=0)  # circuit state when there is no Redis
        settings.CHANNEL_MIN_INTERVAL_SECONDS = args.interval
        settings.ALERT_EMAILS = []
        counter = install_log_counter()
        targets = Targets()
        print(
            f"database: {where}; Slack webhook (fake), pacing {args.interval:g} s per message;"
            f" offline debounce {settings.OFFLINE_DEBOUNCE_SECONDS} s"
        )
        started = time.perf_counter()
        if args.scenario in ("partial", "both"):
            scenario("partial", args.offline, args, counter, targets)
        if args.scenario in ("all", "both"):
            scenario("all", args.instances, args, counter, targets)
        print(f"\nwall time {time.perf_counter() - started:.1f} s")
    if targets.missed:
        print("MISSED: " + "; ".join(targets.missed))
        return 1
    print(f"OK: all {len(targets.results)} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
