"""Two machines' worth of workers: two ``manage.py qcluster`` processes with CHECK_SHARDS=2 on one
Redis broker and one PostgreSQL database share the minute's check, each shard runs once a
minute, both schedulers never start the same minute twice, and an alert is posted once.

Real processes, real Redis (the suite's REDIS_URL), real PostgreSQL. Time is driven by the
schedule for the first minute (both schedulers race for it) and by queuing the minute's task
ourselves afterwards, instead of waiting whole minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone
from django_q.models import Schedule, Success

from alerts.choices import Rule
from alerts.models import Alert, EvaluationQueue
from alerts.queueing import QUEUE_NAME
from instances.models import CheckCycle, CheckRound, Instance, Status
from instances.shards import shard_of
from instances.simulator import GatewaySimulator
from tests.fakes.slack import FakeSlack
from tests.faults.processes import Child, manage, portal_env

API_KEY = "faults-gateway-key"
NAMES = [f"zap-{n:02d}" for n in range(1, 9)]
# What the every-minute schedule does, run in a process of its own (with the workers' settings).
QUEUE_THE_MINUTE = "from instances.tasks import check_instances; check_instances()"

pytestmark = [
    pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs a Redis server: set REDIS_URL"),
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="several qclusters share PostgreSQL (SQLite serialises every writer)",
    ),
]


def wait_until(condition: Callable[[], Any], timeout: float, what: str, children: list[Child]) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        for child in children:
            assert child.proc.poll() is None, f"{child.name} exited:\n{child.output()[-3000:]}"
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {c.name}\n{c.output()[-2000:]}" for c in children)
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{logs}")
        time.sleep(0.2)
    return found


def evaluated(count: int, children: list[Child]) -> None:
    """Wait until ``count`` alert evaluations have run and none is queued or running."""
    wait_until(
        lambda: (
            Success.objects.filter(name="avaliar-alertas").count() == count
            and not EvaluationQueue.objects.filter(queued_until__isnull=False).exists()
        ),
        60,
        f"evaluation {count}",
        children,
    )


def closed_rounds() -> list[CheckRound]:
    return list(CheckRound.objects.filter(closed_at__isnull=False).order_by("started_at"))


def test_two_qclusters_share_the_shards_and_post_each_alert_once(
    portal_database: dict[str, str], fake_slack: FakeSlack, logs: Path
) -> None:
    assert {shard_of(name, 2) for name in NAMES} == {0, 1}
    queue = redis.Redis.from_url(django_settings.REDIS_URL)
    queue.delete("django_q:julia-monitor:q")  # nothing left over from another run
    with GatewaySimulator(api_key=API_KEY) as sim:
        for name in NAMES:
            sim.add_instance(name)
        env = portal_env(
            portal_database,
            EVOLUTION_API_URL=sim.url,
            EVOLUTION_API_KEY=API_KEY,
            EVOLUTION_TIMEOUT="2",
            REDIS_URL=django_settings.REDIS_URL,
            CHECK_SHARDS="2",
            Q_WORKERS="2",
            SLACK_WEBHOOK_URL=fake_slack.url_webhook,
            SLACK_API_URL=fake_slack.url_api,
            OFFLINE_DEBOUNCE_SECONDS="0",
            CHANNEL_MIN_INTERVAL_SECONDS="0",
        )
        # Only the minute's check is due: the other schedules would only add noise to the queue.
        Schedule.objects.exclude(name="check-instances").update(next_run=timezone.now() + timedelta(days=1))
        Schedule.objects.filter(name="check-instances").update(next_run=timezone.now() - timedelta(seconds=1))
        children = [manage(f"qcluster-{m}", "qcluster", env=env, logs=logs) for m in ("a", "b")]
        try:
            # Minute 1: both schedulers find the schedule due; one round starts, both shards report.
            wait_until(lambda: closed_rounds(), 120, "the first round", children)
            Schedule.objects.filter(name="check-instances").update(next_run=timezone.now() + timedelta(days=1))
            assert CheckRound.objects.count() == 1
            assert set(Instance.objects.values_list("name", flat=True)) == set(NAMES)

            evaluated(1, children)

            # Minutes 2 and 3, queued as the schedule would: a number drops and stays down.
            sim.set_state(NAMES[0], "close")
            for minute in (2, 3):
                tick = manage(f"minute-{minute}", "shell", "-c", QUEUE_THE_MINUTE, env=env, logs=logs)
                assert tick.wait(timeout=60) == 0, tick.output()
                wait_until(lambda m=minute: len(closed_rounds()) == m, 90, f"round {minute}", children)
                evaluated(minute, children)
        finally:
            for child in children:
                child.stop()

    rounds = closed_rounds()
    assert len(rounds) == 3 and all(r.missing == [] for r in rounds)
    for current in rounds:
        # Each shard ran once in each minute, whichever machine took it.
        assert sorted(current.cycles.values_list("shard", flat=True)) == [0, 1]
    assert CheckCycle.objects.count() == 6
    assert Success.objects.filter(func="instances.tasks.check_shard").count() == 6
    # One evaluation a minute, not one per shard.
    assert EvaluationQueue.objects.get(name=QUEUE_NAME).requests == 3
    assert Instance.objects.get(name=NAMES[0]).status == Status.DISCONNECTED
    assert Alert.objects.filter(rule=Rule.INSTANCE_OFFLINE).count() == 1
    posts = [post.text for post in fake_slack.messages]
    assert len(posts) == 1 and NAMES[0] in posts[0], posts
