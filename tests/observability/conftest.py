"""What the dashboard's tests share: a small known fleet with something in every metric family, and the token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from alerts.choices import Channel, NotificationKind, Rule, Severity
from alerts.maintenance import MaintenanceWindow
from alerts.models import Alert, Notification
from instances.models import CheckCycle, Instance, Status

METRICS_TOKEN = "token-de-metricas-para-os-testes-do-grafana"


@pytest.fixture
def metrics_token(settings: Settings) -> str:
    settings.METRICS_TOKEN = METRICS_TOKEN
    return METRICS_TOKEN


@pytest.fixture
def known_fleet(make_instance: Callable[..., Instance], make_alert: Callable[..., Alert]) -> list[Instance]:
    """Three numbers: zap-01 connected and busy, zap-02 banned and in maintenance, zap-03 never read.

    Also a finished check cycle, an open alert with a notification waiting for Slack: every
    metric family the dashboard reads has a series.
    """
    now = timezone.now()
    fleet = [
        make_instance("zap-01", status=Status.CONNECTED, last_seen_connected_at=now),
        make_instance("zap-02", phone_number="5511999990002", status=Status.BANNED),
        make_instance("zap-03", phone_number="5511999990003", status=Status.UNKNOWN, last_read_at=None),
    ]
    fleet[0].record_sent(count=12)
    CheckCycle.objects.create(started_at=now - timedelta(seconds=3), finished_at=now, probed=2, failures=1)
    alert = make_alert("zap-02", rule=Rule.INSTANCE_BANNED, severity=Severity.CRITICAL, first_seen_at=now)
    Notification.objects.create(alert=alert, channel=Channel.SLACK, kind=NotificationKind.FIRING, batch="lote-1")
    window = MaintenanceWindow.objects.create(ends_at=now + timedelta(hours=1), reason="troca do chip")
    window.instances.add(fleet[1])
    return fleet
