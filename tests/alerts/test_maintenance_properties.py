"""Maintenance windows under random incidents (hypothesis): nothing covered is posted inside a
window, and every held alert still true when it ends is posted exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db.models import QuerySet
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.choices import Channel, NotificationKind, NotificationState
from alerts.maintenance import MaintenanceWindow
from alerts.models import Alert, AlertEvent, Notification
from alerts.rules import evaluate
from instances.models import Instance, Status, StatusChange

START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
WINDOW_START, WINDOW_END = START + timedelta(minutes=10), START + timedelta(minutes=40)
NAMES = ("zap-01", "zap-02", "zap-03")

steps = st.lists(
    st.tuples(st.integers(1, 12), st.sampled_from(NAMES), st.sampled_from([Status.CONNECTED, Status.DISCONNECTED])),
    max_size=12,
)


def posted(rows: QuerySet[Notification]) -> QuerySet[Notification]:
    return rows.exclude(channel=Channel.LOG).exclude(state=NotificationState.HELD)


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=steps, whole_fleet=st.booleans())
def test_nothing_covered_is_posted_inside_a_window_and_what_is_still_true_is_posted_once(
    events: list[tuple[int, str, str]], whole_fleet: bool
) -> None:
    for model in (AlertEvent, Notification, Alert, MaintenanceWindow, StatusChange, Instance):
        model.objects.all().delete()
    slack = override_settings(SLACK_WEBHOOK_URL="http://127.0.0.1:9/services/T/B/X", OFFLINE_DEBOUNCE_SECONDS=60)
    with slack, time_machine.travel(START, tick=False) as clock:
        fleet = {
            name: Instance.objects.create(
                name=name,
                capacity_per_hour=30,
                capacity_per_day=200,
                status=Status.CONNECTED,
                status_since=START - timedelta(hours=1),
                last_seen_connected_at=START - timedelta(hours=1),
            )
            for name in NAMES
        }
        window = MaintenanceWindow(starts_at=WINDOW_START, ends_at=WINDOW_END, reason="Troca", whole_fleet=whole_fleet)
        window.save()
        if not whole_fleet:
            window.instances.set([fleet["zap-01"]])
        for minutes, name, status in events:
            clock.shift(timedelta(minutes=minutes))
            fleet[name].refresh_from_db()
            fleet[name].record_status(status, "", at=timezone.now())
            evaluate()
        clock.move_to(max(timezone.now(), WINDOW_END) + timedelta(minutes=2))
        evaluate()
        evaluate()

    covered = Notification.objects.all() if whole_fleet else Notification.objects.filter(alert__instance__name="zap-01")
    inside = posted(covered).filter(created_at__gte=WINDOW_START, created_at__lt=WINDOW_END)
    for row in inside:
        # Only the resolution of an alert people were told about before the window gets out.
        assert row.kind == NotificationKind.RESOLVED
        assert posted(row.alert.notifications.filter(kind=NotificationKind.FIRING, created_at__lt=WINDOW_START))
    uncovered = (
        Notification.objects.none() if whole_fleet else Notification.objects.exclude(alert__instance__name="zap-01")
    )
    assert not uncovered.filter(state=NotificationState.HELD).exists()
    for alert in Alert.objects.filter(
        notifications__state=NotificationState.HELD, notifications__kind="firing"
    ).distinct():
        firing_posts = posted(alert.notifications.filter(kind=NotificationKind.FIRING)).count()
        if alert.state == "firing":
            assert firing_posts == 1, alert
        elif alert.resolved_at is not None and alert.resolved_at < WINDOW_END:
            assert firing_posts == 0, alert
