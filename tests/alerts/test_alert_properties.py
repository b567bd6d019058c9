"""The alert rules under random incidents (hypothesis, stateful).

A gateway of three numbers does random things — live states, terminal closes dated by a clock
up to two minutes off, old disconnection codes left on re-paired numbers, numbers vanishing or
answering garbage, the whole gateway failing — while the portal observes it through the real
check cycle's write phase and the real webhook ingestion, people acknowledge and resolve
alerts, and the clock moves. After every step the real ``evaluate()`` runs and delivery posts
to a local Slack; the invariants below are checked against the database and the posts.

Run more examples with ``HYPOTHESIS_PROFILE=nightly make test`` (see the README).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from alerts.choices import RULE_CHANNELS, AlertState, EventKind, NotificationKind, Resolution, Rule
from alerts.delivery import deliver_due
from alerts.models import Alert, AlertEvent, Notification
from alerts.rules import evaluate
from instances.checks import GatewayView, record_view
from instances.gateway import (
    GatewayErrorKind,
    GatewayInstance,
    GatewayUnavailable,
    ProbeFailure,
    ProbeResult,
    gateway_failure,
)
from instances.gateway.states import status_from_state
from instances.models import CheckCycle, Instance, Status, StatusChange
from instances.webhooks import Envelope, ingest
from julia_monitor.lib.circuits import CircuitBreaker
from tests.fakes.slack import FakeSlack

NAMES = ("zap-01", "zap-02", "zap-03")
DEBOUNCE = 60
START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
# A terminal close the gateway dates up to this far off the portal's clock (either way).
MAX_SKEW = 120
# What "recently banned" allows for: the skew on both sides of the last connected sighting.
BAN_SLACK = timedelta(seconds=2 * MAX_SKEW + 1)


@dataclass
class Truth:
    """What the gateway knows about one number."""

    state: str = "open"
    code: int | None = None
    code_at: datetime | None = None
    terminal: bool = False  # the current close is a terminal one (a close webhook exists for it)
    listed: bool = True
    readable: bool = True


class AlertRules(RuleBasedStateMachine):
    slack: FakeSlack  # set by the test

    @initialize()
    def a_connected_fleet(self) -> None:
        for model in (AlertEvent, Notification, Alert, StatusChange, CheckCycle, Instance):
            model.objects.all().delete()
        CircuitBreaker("gateway").record_success()  # closed, as a new machine starts
        self.slack.messages.clear()
        self.now = START
        self.gateway_up = True
        self.truth = {name: Truth() for name in NAMES}
        # zap-01 was banned a month ago and re-paired since: its row still carries the 403.
        old_ban = START - timedelta(days=30)
        self.truth["zap-01"].code, self.truth["zap-01"].code_at = 403, old_ban
        self.pairs_sent: dict[str, list[tuple[int, datetime]]] = {name: [] for name in NAMES}
        an_hour_ago = START - timedelta(hours=1)
        for name in NAMES:
            Instance.objects.create(
                name=name,
                status=Status.CONNECTED,
                status_since=an_hour_ago,
                last_seen_connected_at=an_hour_ago,
                last_read_at=START,
                capacity_per_hour=1000,
                capacity_per_day=10000,
                **(
                    {"disconnection_code": 403, "disconnection_at": old_ban, "disconnection_seen_at": old_ban}
                    if name == "zap-01"
                    else {}
                ),
            )
        # The model's own view of the portal, built from what it observed after each step.
        self.down_since: dict[str, datetime | None] = dict.fromkeys(NAMES)
        self.terminal_since_connected = dict.fromkeys(NAMES, False)
        self.last_connected_at: dict[str, datetime] = dict.fromkeys(NAMES, START)
        self.last_ban_issued_at: dict[str, datetime | None] = dict.fromkeys(NAMES)
        self.ban_closed_in_outage: dict[str, datetime | None] = dict.fromkeys(NAMES)
        self.fleet_down_since: datetime | None = None
        self.posts_at_fleet_drop = 0

    # --- the gateway ------------------------------------------------------------------------

    @rule(name=st.sampled_from(NAMES), state=st.sampled_from(["open", "connecting", "close"]))
    def a_live_state_changes(self, name: str, state: str) -> None:
        truth = self.truth[name]
        truth.state, truth.terminal = state, False  # a plain close: Evolution reconnects silently

    @rule(name=st.sampled_from(NAMES), code=st.sampled_from([401, 403]), skew=st.integers(-MAX_SKEW, MAX_SKEW))
    def a_terminal_close(self, name: str, code: int, skew: int) -> None:
        truth = self.truth[name]
        truth.state, truth.terminal = "close", True
        truth.code, truth.code_at = code, self.now + timedelta(seconds=skew, microseconds=len(self.pairs_sent[name]))
        self.pairs_sent[name].append((code, truth.code_at))
        self.terminal_since_connected[name] = True
        if code == 403:
            self.last_ban_issued_at[name] = self.now

    @rule(name=st.sampled_from(NAMES), listed=st.booleans())
    def the_gateway_lists_or_forgets_a_number(self, name: str, listed: bool) -> None:
        self.truth[name].listed = listed

    @rule(name=st.sampled_from(NAMES), readable=st.booleans())
    def a_probe_answers_garbage_or_recovers(self, name: str, readable: bool) -> None:
        self.truth[name].readable = readable

    @rule(up=st.booleans())
    def the_gateway_fails_or_recovers(self, up: bool) -> None:
        self.gateway_up = up

    @rule(seconds=st.sampled_from([1, 5, 20, 45, 61, 130, 200, 600, 1000]))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    # --- the portal observes ----------------------------------------------------------------

    @rule()
    def a_check_cycle(self) -> None:
        # A cycle takes its time: consecutive cycles never share a start (the newest finished
        # one is the gateway's latest word).
        self.now += timedelta(seconds=1)
        with time_machine.travel(self.now, tick=False):
            record_view(self.view(), {i.name: i for i in Instance.objects.all()}, self.now, time.monotonic())
        self.evaluate()
        if self.gateway_up:
            for name, truth in self.truth.items():
                if truth.listed and truth.readable and truth.state == "open":
                    self.seen_connected(name)

    @rule(name=st.sampled_from(NAMES), as_status_instance=st.booleans())
    def a_status_webhook(self, name: str, as_status_instance: bool) -> None:
        truth = self.truth[name]
        if not self.gateway_up or (truth.state == "close" and not truth.terminal):
            return  # a down gateway sends nothing; a plain close has no webhook
        if truth.state == "close" and as_status_instance:
            data = {"status": "closed", "disconnectionReasonCode": truth.code, "disconnectionAt": truth.code_at}
            self.webhook("status.instance", name, data)
        else:
            code = truth.code if truth.state == "close" else 200
            self.webhook("connection.update", name, {"state": truth.state, "statusReason": code})
            if truth.state == "open":
                self.seen_connected(name)

    @rule(name=st.sampled_from(NAMES), data=st.data())
    def an_old_close_is_retried_late(self, name: str, data: st.DataObject) -> None:
        if not self.pairs_sent[name]:
            return
        code, at = data.draw(st.sampled_from(self.pairs_sent[name]))
        if at >= self.last_connected_at[name] - BAN_SLACK:
            # Within the clock tolerance the portal cannot tell a late retry from news: the
            # gateway did say "terminal", and the portal may believe it.
            self.terminal_since_connected[name] = True
        self.webhook(
            "status.instance", name, {"status": "closed", "disconnectionReasonCode": code, "disconnectionAt": at}
        )

    # --- people -----------------------------------------------------------------------------

    @rule(data=st.data())
    def a_person_acknowledges(self, data: st.DataObject) -> None:
        firing = list(Alert.objects.filter(state=AlertState.FIRING).order_by("pk"))
        if firing:
            with time_machine.travel(self.now, tick=False):
                data.draw(st.sampled_from(firing)).acknowledge(user=None)

    @rule(data=st.data())
    def a_person_resolves(self, data: st.DataObject) -> None:
        open_alerts = list(Alert.objects.open().select_related("instance").order_by("pk"))
        if not open_alerts:
            return
        alert = data.draw(st.sampled_from(open_alerts))
        with time_machine.travel(self.now, tick=False):
            alert.resolve(user=None, note="resolvido no teste", resolution=Resolution.MANUAL)
        if alert.rule == Rule.INSTANCE_BANNED:
            self.ban_closed_in_outage[alert.instance.name] = self.down_since[alert.instance.name]
        self.evaluate()

    # --- plumbing ---------------------------------------------------------------------------

    def view(self) -> GatewayView:
        if not self.gateway_up:
            return GatewayView(error=GatewayUnavailable(GatewayErrorKind.UNREACHABLE, "teste"))
        rows, probes = {}, {}
        for name, truth in self.truth.items():
            if truth.listed:
                rows[name] = GatewayInstance(
                    name, connection_status=truth.state, disconnection_code=truth.code, disconnection_at=truth.code_at
                )
                if truth.readable:
                    probes[name] = ProbeResult(name, True, truth.state, status_from_state(truth.state))
                else:
                    probes[name] = ProbeResult(name, False, error="erro", failure=ProbeFailure.ERROR_BODY)
            else:
                probes[name] = ProbeResult(name, False, error="não existe", failure=ProbeFailure.NOT_FOUND)
        return GatewayView(rows=rows, probes=probes, error=gateway_failure(probes.values()))

    def webhook(self, event: str, name: str, data: dict[str, Any]) -> None:
        data = {key: value.isoformat() if isinstance(value, datetime) else value for key, value in data.items()}
        with time_machine.travel(self.now, tick=False):
            ingest(Envelope(event=event, instance=name, data={"instance": name, **data}), self.now)
        self.evaluate()

    def evaluate(self) -> None:
        before = set(Alert.objects.values_list("pk", flat=True))
        with time_machine.travel(self.now, tick=False):
            evaluate(self.now)
            deliver_due(sleep=lambda _seconds: None)
        self.check_step(set(Alert.objects.values_list("pk", flat=True)) - before)

    def check_step(self, opened: set[int]) -> None:
        """The invariants about what this evaluation decided, then the model moves on."""
        instances = {i.name: i for i in Instance.objects.all()}
        for alert in Alert.objects.filter(pk__in=opened).select_related("instance"):
            name = alert.instance.name if alert.instance else None
            if alert.rule == Rule.INSTANCE_OFFLINE:
                # A blip shorter than the debounce opens nothing, unless the gateway said it was terminal.
                down = self.down_since[name] or self.now
                assert self.now - down >= timedelta(seconds=DEBOUNCE) or self.terminal_since_connected[name]
            if alert.rule == Rule.ALL_OFFLINE:
                # The whole fleet blipping together pages nobody either.
                assert self.now - (self.fleet_down_since or self.now) >= timedelta(seconds=DEBOUNCE)
            if alert.rule == Rule.INSTANCE_BANNED:
                # Never a ban from a stale code or an old close retried late …
                issued = self.last_ban_issued_at[name]
                assert issued is not None and issued >= self.last_connected_at[name] - BAN_SLACK
                # … and a ban a person closed does not page again while the same ban lasts.
                assert (
                    self.ban_closed_in_outage[name] is None or self.ban_closed_in_outage[name] != self.down_since[name]
                )

        for alert in Alert.objects.filter(resolved_at=self.now).select_related("instance"):
            if alert.resolution != Resolution.CLEARED:
                continue
            assert alert.rule != Rule.INSTANCE_BANNED, "a ban is never resolved silently"
            if alert.rule == Rule.INSTANCE_OFFLINE:
                assert instances[alert.instance.name].status == Status.CONNECTED
            if alert.rule == Rule.ALL_OFFLINE:
                assert any(i.status == Status.CONNECTED for i in instances.values())

        for name, instance in instances.items():
            if instance.status == Status.CONNECTED:
                self.down_since[name] = None
                self.ban_closed_in_outage[name] = None
            elif self.down_since[name] is None:
                self.down_since[name] = self.now
        online = any(i.status == Status.CONNECTED for i in instances.values())
        if online:
            self.fleet_down_since = None
        elif self.fleet_down_since is None:
            self.fleet_down_since = self.now
            self.posts_at_fleet_drop = len(self.slack.messages)

    def seen_connected(self, name: str) -> None:
        """The portal just read this number as connected: closes before this are old news."""
        self.last_connected_at[name] = self.now
        self.terminal_since_connected[name] = False

    # --- invariants after every step ---------------------------------------------------------

    @invariant()
    def at_most_one_open_alert_per_key(self) -> None:
        keys = list(Alert.objects.open().values_list("key", flat=True))
        assert len(keys) == len(set(keys))

    @invariant()
    def one_fleet_outage_pages_the_channel_at_most_once(self) -> None:
        if self.fleet_down_since is not None:
            urgent = [p for p in self.slack.messages[self.posts_at_fleet_drop :] if p.text.startswith("<!channel>")]
            assert len(urgent) <= 1

    @invariant()
    def every_alert_is_closed_at_most_once(self) -> None:
        events = Counter(AlertEvent.objects.filter(kind=EventKind.RESOLVED).values_list("alert_id", flat=True))
        told: dict[int, list[str]] = defaultdict(list)
        for alert_id, channel in Notification.objects.filter(kind=NotificationKind.RESOLVED).values_list(
            "alert_id", "channel"
        ):
            told[alert_id].append(channel)
        for pk, rule_ in Alert.objects.filter(state=AlertState.RESOLVED).values_list("pk", "rule"):
            assert events[pk] == 1
            assert sorted(told[pk]) == sorted(RULE_CHANNELS[rule_])
        assert set(events) <= set(Alert.objects.filter(state=AlertState.RESOLVED).values_list("pk", flat=True))

    def teardown(self) -> None:
        """Everything comes back: every firing that was not superseded gets its one resolution."""
        if not hasattr(self, "truth"):
            return
        self.gateway_up = True
        for truth in self.truth.values():
            truth.state, truth.terminal, truth.listed, truth.readable = "open", False, True, True
        for _minute in range(17):  # past the flapping window: "instável" clears too
            self.now += timedelta(minutes=1)
            self.a_check_cycle()
        for alert in Alert.objects.all():
            if alert.rule == Rule.INSTANCE_BANNED and alert.resolution != Resolution.MANUAL:
                assert alert.is_open, "a ban waits for a person"
                continue
            assert alert.state == AlertState.RESOLVED, f"{alert.title} still {alert.state}"
            told = dict(alert.notifications.filter(kind=NotificationKind.RESOLVED).values_list("channel", "state"))
            assert {channel: told.get(channel) for channel in RULE_CHANNELS[alert.rule] if channel != "email"} == {
                channel: "sent" for channel in RULE_CHANNELS[alert.rule] if channel != "email"
            }  # email is not configured here


@pytest.mark.django_db
def test_the_alert_rules_hold_under_random_incidents(settings: Any, alert_timings: None, _no_proxy: None) -> None:
    assert settings.OFFLINE_DEBOUNCE_SECONDS == DEBOUNCE  # the model's own blip arithmetic uses it
    settings.ALERT_EMAILS = []
    with FakeSlack() as slack:
        settings.SLACK_WEBHOOK_URL = slack.url_webhook
        settings.SLACK_BOT_TOKEN = ""
        AlertRules.slack = slack
        run_state_machine_as_test(AlertRules)
