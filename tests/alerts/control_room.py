"""The portal in an incident: a simulated gateway, a real local Slack and a clock the test moves.

The ``room`` fixture (tests/alerts/conftest.py) gives tests the verbs incidents are made of — a
check cycle, a status webhook, a person's resolution — each run as production runs it (the cycle
and the webhook view, then the alert task they queue, inline as the worker would) at the room's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import time_machine
from django.test import Client
from django.utils import timezone

from alerts.choices import Resolution, Rule
from alerts.models import Alert
from alerts.tasks import evaluate_and_deliver
from instances.checks import CycleSummary, run_cycle
from instances.models import Instance, Status
from instances.simulator import GatewaySimulator
from tests.fakes.slack import FakeSlack, SlackPost

API_KEY = "simulator-key"
SECRET = "segredo-do-webhook"


class ControlRoom:
    def __init__(
        self,
        sim: GatewaySimulator,
        slack: FakeSlack,
        client: Client,
        worker: Callable[[], AbstractContextManager],
    ) -> None:
        self.sim = sim
        self.slack = slack
        self.client = client
        self.worker = worker
        self.now = timezone.now().replace(microsecond=0)

    def add(self, *names: str, state: str = "open") -> None:
        """Numbers on the gateway, known to the portal and connected for an hour."""
        seen = self.now - timedelta(hours=1)
        for name in names:
            self.sim.add_instance(name, state=state, phone_number=f"5511999{abs(hash(name)) % 10**6:06d}")
            Instance.objects.create(
                name=name,
                phone_number="",
                status=Status.CONNECTED if state == "open" else Status.DISCONNECTED,
                status_since=seen,
                last_seen_connected_at=seen,
                last_read_at=seen,
                capacity_per_hour=20,
                capacity_per_day=100,
            )

    def set_state(self, name: str, state: str, code: int | None = None) -> None:
        """The gateway changes a live state, its own clock following the room's (plus its offset)."""
        with self.clock():
            self.sim.set_state(name, state, code=code)

    def later(self, seconds: float) -> ControlRoom:
        self.now += timedelta(seconds=seconds)
        return self

    def clock(self) -> AbstractContextManager:
        return time_machine.travel(self.now, tick=False)

    def cycle(self) -> CycleSummary:
        """One check cycle at the room's clock, then the alert evaluation and delivery it queues."""
        with self.clock(), self.worker():
            return run_cycle(now=self.now)

    def evaluate(self) -> None:
        """An evaluation and delivery pass without a cycle (a webhook's, or the minute's)."""
        with self.clock():
            evaluate_and_deliver()

    def webhook(self, event: str, name: str, **data: Any) -> dict[str, Any]:
        """A status webhook from Evolution, through the real view, at the room's clock."""
        envelope = {"event": event, "instance": name, "data": {"instance": name, **data}}
        with self.clock(), self.worker():
            response = self.client.post(
                "/webhooks/evolution", envelope, content_type="application/json", HTTP_X_WEBHOOK_SECRET=SECRET
            )
        assert response.status_code == 200, response.content
        return response.json()

    def resolve(self, alert: Alert) -> None:
        """A person resolves the alert (the API and the pages call the same method)."""
        with self.clock():
            alert.resolve(user=None, note="resolvido por teste", resolution=Resolution.MANUAL)
            evaluate_and_deliver()

    # --- what people received -------------------------------------------------------------

    @property
    def posts(self) -> list[SlackPost]:
        return list(self.slack.messages)

    def posts_saying(self, text: str) -> list[SlackPost]:
        return [p for p in self.posts if text in p.text]

    def urgent_posts(self) -> list[SlackPost]:
        return [p for p in self.posts if p.text.startswith("<!channel>")]

    def status(self, name: str) -> str:
        return Instance.objects.get(name=name).status

    def open_alerts(self, rule: Rule | None = None) -> list[Alert]:
        alerts = Alert.objects.open()
        return list(alerts.filter(rule=rule) if rule else alerts)
