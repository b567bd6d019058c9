"""What the alert tests share: the control room (an incident on a moving clock) and channel messages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import django_q.conf
import pytest
from django.test import Client

from alerts.channels.base import Item, Message
from alerts.choices import NotificationKind
from alerts.models import Alert
from instances.simulator import GatewaySimulator
from tests.alerts.control_room import API_KEY, SECRET, ControlRoom
from tests.fakes.slack import FakeSlack
from tests.support import FIRST_SEEN, PROBE_TIMEOUT


@pytest.fixture
def alert_timings(settings: Any) -> None:
    """The rules' clocks as the incidents are written: debounce 60 s, gateway alert after 90 s,
    3 drops in 15 min is unstable, a reading stale after 180 s, no channel pacing."""
    settings.OFFLINE_DEBOUNCE_SECONDS = 60
    settings.GATEWAY_ALERT_AFTER_SECONDS = 90
    settings.FLAP_DROPS = 3
    settings.FLAP_WINDOW_MINUTES = 15
    settings.STATUS_STALE_AFTER_SECONDS = 180
    settings.CHANNEL_MIN_INTERVAL_SECONDS = 0


@pytest.fixture
def room(
    alert_timings: None,
    settings: Any,
    fake_slack: FakeSlack,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> Iterator[ControlRoom]:
    """An empty fleet on a simulated gateway, on the alert timings above."""
    settings.EVOLUTION_API_KEY = API_KEY
    settings.EVOLUTION_TIMEOUT = PROBE_TIMEOUT
    settings.EVOLUTION_WEBHOOK_SECRET = SECRET
    settings.REMINDER_MINUTES = {"critical": 30, "error": 60, "warning": 0}
    monkeypatch.setattr(django_q.conf.Conf, "SYNC", True)
    with GatewaySimulator(api_key=API_KEY, seed=1) as sim:
        settings.EVOLUTION_API_URL = sim.url
        yield ControlRoom(sim, fake_slack, client, lambda: django_capture_on_commit_callbacks(execute=True))


@pytest.fixture
def make_message() -> Callable[..., Message]:
    """Build a message: bare alerts are firings, ``(alert, kind)`` pairs say what is said.

    ``at`` (when delivery builds it) defaults to 12 minutes after ``FIRST_SEEN``; keyword
    arguments are the fleet context (``online=3, total=5``).
    """

    def make(*items: Alert | tuple[Alert, str], at: datetime | None = None, **context: int) -> Message:
        built = [Item(i, NotificationKind.FIRING) if isinstance(i, Alert) else Item(i[0], i[1]) for i in items]
        return Message(built, at or FIRST_SEEN + timedelta(minutes=12), dict(context))

    return make
