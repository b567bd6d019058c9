"""At-least-once, said: a notification taken over from a pass that died mid-delivery warns it may have gone out twice.

A real post to the fake Slack (through the real slack-sdk) is interrupted after Slack took
it; the clock is moved past the claim lease with time_machine, and the next pass re-posts it.
The admin and the alert's timeline then say, in pt-BR, that the post may be a duplicate.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from alerts.channels.base import Message
from alerts.channels.slack import SlackTransport
from alerts.choices import Channel, EventKind, NotificationState
from alerts.delivery import CLAIM_LEASE, deliver_due
from tests.alerts.support import T0, details, no_sleep, queue

WARNING = "Slack: entrega retomada após interrupção: pode ter sido enviada duas vezes"


class StoppedAfterPosting(SlackTransport):
    """The real Slack transport; the process is stopped (SIGTERM, Ctrl-C) right after Slack took the post."""

    def __init__(self) -> None:
        self.posted = 0

    def send(self, message: Message) -> None:
        super().send(message)
        self.posted += 1
        if self.posted == 1:
            raise KeyboardInterrupt


def deliver(**kwargs) -> None:
    deliver_due(sleep=no_sleep, **kwargs)


@pytest.fixture
def alert(make_alert, settings):
    settings.CHANNEL_MIN_INTERVAL_SECONDS = 0
    return make_alert("zap-01")


def test_a_post_interrupted_after_slack_took_it_is_reposted_after_the_lease_and_says_so(
    alert, fake_slack, admin_client
):
    with time_machine.travel(T0, tick=False) as clock:
        row = queue(alert, Channel.SLACK)
        with pytest.raises(KeyboardInterrupt):
            deliver(transports={Channel.SLACK: StoppedAfterPosting()})
        clock.shift(CLAIM_LEASE - timedelta(seconds=1))
        deliver()
        assert len(fake_slack.messages) == 1  # its claim still holds: nobody else posts it meanwhile

        clock.shift(timedelta(seconds=2))
        deliver()

        [first, second] = fake_slack.wait_for(2)
        assert first.text == second.text  # the same post, twice: at-least-once
        row.refresh_from_db()
        assert (row.state, row.resumed_at) == (NotificationState.SENT, timezone.now())
        assert details(alert, EventKind.DELIVERY_RESUMED) == [WARNING]

    timeline = admin_client.get(f"/alertas/{alert.pk}/").content.decode()
    assert "Entrega retomada após interrupção" in timeline
    assert "pode ter sido enviada duas vezes" in timeline
    listing = admin_client.get("/admin/alerts/notification/").content.decode()
    assert "Pode ter saído duas vezes?" in listing
    assert 'alt="True"' in listing
    assert (
        "retomada após interrupção" in admin_client.get(f"/admin/alerts/notification/{row.pk}/change/").content.decode()
    )


def test_a_claim_left_by_a_killed_pass_is_taken_over_with_the_same_warning(alert, fake_slack):
    with time_machine.travel(T0, tick=False) as clock:
        # What kill -9 leaves behind: the rows claimed, nothing recorded, nobody to release them.
        row = queue(alert, Channel.SLACK, claimed_until=timezone.now() + CLAIM_LEASE, claimed_by="killed-pass")
        clock.shift(CLAIM_LEASE + timedelta(seconds=1))
        deliver()

    fake_slack.wait_for(1)
    row.refresh_from_db()
    assert row.state == NotificationState.SENT
    assert row.resumed_at is not None
    assert details(alert, EventKind.DELIVERY_RESUMED) == [WARNING]


def test_an_ordinary_delivery_or_retry_carries_no_such_warning(alert, fake_slack):
    with time_machine.travel(T0, tick=False) as clock:
        row = queue(alert, Channel.SLACK)
        fake_slack.fail_with(500, times=1)
        deliver()
        clock.shift(timedelta(minutes=5))
        deliver()

    fake_slack.wait_for(1)
    row.refresh_from_db()
    assert (row.state, row.resumed_at) == (NotificationState.SENT, None)
    assert details(alert, EventKind.DELIVERY_RESUMED) == []
