"""The delivering process SIGKILLed while a Slack post is in flight: nothing is lost, and only
the post in flight may reach Slack twice (the documented at-least-once case), once more at most.

Real processes: ``manage.py deliver_notifications`` posting through the real slack-sdk to the
fake Slack (a real HTTP server), made slow so the post is in flight when the process dies.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from alerts.choices import Channel, NotificationState
from alerts.delivery import CLAIM_LEASE, deliver_due
from alerts.models import Notification
from alerts.rules import evaluate
from instances.models import Instance, Status
from tests.fakes.slack import FakeSlack
from tests.faults.processes import manage, portal_env

NAMES = ["zap-01", "zap-02", "zap-03"]


def no_sleep(seconds: float) -> None:
    pass


def posts_about(slack: FakeSlack, name: str) -> int:
    return sum(f"'{name}'" in post.text or f"{name} " in post.text for post in slack.messages)


def connected(i: int, name: str) -> Instance:
    return Instance.objects.create(
        name=name,
        phone_number=f"551199999000{i}",
        status=Status.CONNECTED,
        capacity_per_hour=20,
        capacity_per_day=100,
        last_read_at=timezone.now(),
        last_seen_connected_at=timezone.now(),
    )


def three_alerts_in_three_batches() -> None:
    """Three numbers drop one after another; each evaluation queues its own Slack message."""
    connected(0, "zap-00")  # keeps the fleet up: no "SISTEMA CRÍTICO"
    for i, name in enumerate(NAMES, start=1):
        instance = connected(i, name)
        instance.record_status(Status.DISCONNECTED, reason="conexão perdida")
        evaluate()


def test_a_delivery_killed_mid_post_loses_nothing_and_repeats_only_the_post_in_flight(
    portal_database: dict[str, str], fake_slack: FakeSlack, settings: Any, logs: Path
) -> None:
    settings.OFFLINE_DEBOUNCE_SECONDS = 0
    settings.CHANNEL_MIN_INTERVAL_SECONDS = 0
    three_alerts_in_three_batches()
    slack_rows = Notification.objects.filter(channel=Channel.SLACK)
    assert slack_rows.count() == 3 and len(set(slack_rows.values_list("batch", flat=True))) == 3

    # Slack takes the first post but answers it late: the process dies while waiting.
    fake_slack.hang(1.5, times=1)
    env = portal_env(portal_database, SLACK_WEBHOOK_URL=fake_slack.url_webhook, CHANNEL_MIN_INTERVAL_SECONDS="0")
    worker = manage("deliver", "deliver_notifications", env=env, logs=logs)
    try:
        fake_slack.wait_for_requests(1, timeout=30)
    finally:
        worker.kill()
    assert not Notification.objects.filter(channel=Channel.SLACK, state=NotificationState.SENT).exists()
    first = fake_slack.wait_for(1)[0]  # the post in flight did reach Slack: it only answered too late
    in_flight = next(name for name in NAMES if name in first.text)

    # Restarted at once, delivery leaves the dead process's claims alone until their lease ends...
    deliver_due(sleep=no_sleep)
    assert len(fake_slack.messages) == 1
    # ... and after it, delivers everything: the post in flight once more, the others once.
    deliver_due(timezone.now() + CLAIM_LEASE + timedelta(seconds=1), sleep=no_sleep)
    assert set(slack_rows.values_list("state", flat=True)) == {NotificationState.SENT}
    assert not Notification.objects.exclude(state=NotificationState.SENT).exists()  # the log channel too
    assert {name: posts_about(fake_slack, name) for name in NAMES} == {
        name: 2 if name == in_flight else 1 for name in NAMES
    }
    # A later pass sends nothing again.
    deliver_due(timezone.now() + 2 * CLAIM_LEASE, sleep=no_sleep)
    assert len(fake_slack.messages) == 4
