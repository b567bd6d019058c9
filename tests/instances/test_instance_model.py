"""Instance.record_status / record_sent: the rules every observation and message goes through."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from instances.models import Instance, Status, StatusChange, UsageBucket

SP = ZoneInfo("America/Sao_Paulo")


@pytest.mark.django_db
def test_a_change_of_status_is_recorded_once_in_the_history(make_instance) -> None:
    zap = make_instance(status=Status.CONNECTED)

    first = zap.record_status(Status.DISCONNECTED, "conexão encerrada (428)")
    again = zap.record_status(Status.DISCONNECTED, "conexão encerrada (428)")

    assert first is not None and again is None
    assert list(StatusChange.objects.values_list("old_status", "new_status", "reason")) == [
        ("connected", "disconnected", "conexão encerrada (428)")
    ]
    assert zap.status == Status.DISCONNECTED


@pytest.mark.django_db
def test_an_observation_older_than_the_current_status_is_ignored(make_instance) -> None:
    zap = make_instance(status=Status.CONNECTED)
    now = timezone.now() + timedelta(minutes=1)
    zap.record_status(Status.DISCONNECTED, at=now)

    late = zap.record_status(Status.CONNECTED, at=now - timedelta(seconds=5))

    assert late is None
    assert Instance.objects.get().status == Status.DISCONNECTED


@pytest.mark.django_db
def test_a_plain_close_after_a_ban_is_still_a_ban(make_instance) -> None:
    zap = make_instance(status=Status.BANNED)

    zap.record_status(Status.DISCONNECTED)

    assert Instance.objects.get().status == Status.BANNED
    assert not StatusChange.objects.exists()


@pytest.mark.django_db
def test_a_banned_instance_seen_connected_again_is_connected(make_instance) -> None:
    zap = make_instance(status=Status.BANNED)

    zap.record_status(Status.CONNECTED)

    zap.refresh_from_db()
    assert zap.status == Status.CONNECTED
    assert zap.last_seen_connected_at is not None


@pytest.mark.django_db
def test_a_terminal_code_is_kept_with_its_reason(make_instance) -> None:
    zap = make_instance(status=Status.CONNECTED)

    zap.record_status(Status.BANNED, "número banido (406)", code=406)

    zap.refresh_from_db()
    assert (zap.disconnection_code, zap.disconnection_reason) == (406, "número banido (406)")


@pytest.mark.django_db
def test_a_successful_observation_clears_the_failures_in_a_row(make_instance) -> None:
    zap = make_instance(consecutive_failures=3, last_error="timeout")

    zap.record_status(Status.CONNECTED)

    assert Instance.objects.get().consecutive_failures == 0


@pytest.mark.django_db
def test_a_message_id_counts_once(make_instance) -> None:
    zap = make_instance()

    counted = [zap.record_sent("3EB0C5A2") for _ in range(3)]

    assert counted == [True, False, False]
    assert UsageBucket.objects.get().count == 1


@pytest.mark.django_db
def test_messages_fall_in_the_local_hour_and_day(make_instance) -> None:
    zap = make_instance()
    before_midnight = datetime(2026, 11, 25, 23, 59, 59, tzinfo=SP)
    zap.record_sent("a", at=before_midnight)
    zap.record_sent("b", at=before_midnight + timedelta(seconds=1))
    zap.record_sent("c", at=before_midnight + timedelta(minutes=30))

    today = Instance.objects.with_usage(before_midnight + timedelta(minutes=31)).get()
    yesterday = Instance.objects.with_usage(before_midnight).get()

    assert (today.msgs_hour, today.msgs_day) == (2, 2)
    assert (yesterday.msgs_hour, yesterday.msgs_day) == (1, 1)
    assert Instance.objects.get().last_message_at == before_midnight + timedelta(minutes=30)


@pytest.mark.django_db
def test_usage_by_hour_has_every_hour_even_empty_ones(make_instance) -> None:
    zap = make_instance()
    now = datetime(2026, 11, 25, 14, 30, tzinfo=SP)
    zap.record_sent(count=5, at=now - timedelta(hours=2))

    hours = zap.usage_by_hour(24, now)

    assert len(hours) == 24
    assert hours[-1] == (datetime(2026, 11, 25, 14, tzinfo=SP), 0)
    assert hours[-3] == (datetime(2026, 11, 25, 12, tzinfo=SP), 5)


@pytest.mark.django_db(transaction=True)
def test_the_same_message_delivered_twice_at_once_counts_once(make_instance) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite in-memory test databases serialise writers; the race needs PostgreSQL")
    zap = make_instance()
    barrier = threading.Barrier(4)
    results: list[bool] = []

    def deliver() -> None:
        barrier.wait()
        try:
            results.append(Instance.objects.get(pk=zap.pk).record_sent("dup-1"))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == [False, False, False, True]
    assert UsageBucket.objects.get().count == 1


@pytest.mark.django_db(transaction=True)
def test_two_observers_of_the_same_change_record_it_once(make_instance) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite in-memory test databases serialise writers; the race needs PostgreSQL")
    zap = make_instance(status=Status.CONNECTED)
    barrier = threading.Barrier(2)

    def observe() -> None:
        barrier.wait()
        try:
            Instance.objects.get(pk=zap.pk).record_status(Status.DISCONNECTED, "webhook ou sonda")
        finally:
            connection.close()

    threads = [threading.Thread(target=observe) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert StatusChange.objects.count() == 1


@pytest.mark.django_db
def test_old_message_ids_and_cycles_are_pruned_but_counts_stay(make_instance, settings) -> None:
    from instances.models import CheckCycle, SentMessage, prune_history

    settings.MESSAGE_ID_RETENTION_DAYS = 3
    zap = make_instance()
    now = timezone.now()
    zap.record_sent("old", at=now - timedelta(days=4))
    zap.record_sent("new", at=now - timedelta(days=1))
    CheckCycle.objects.create(started_at=now - timedelta(days=31), finished_at=now - timedelta(days=31))
    CheckCycle.objects.create(started_at=now, finished_at=now)

    prune_history(now)

    assert list(SentMessage.objects.values_list("message_id", flat=True)) == ["new"]
    assert CheckCycle.objects.count() == 1
    assert sum(UsageBucket.objects.values_list("count", flat=True)) == 2
