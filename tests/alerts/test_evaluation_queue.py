"""Coalesced alert evaluations: one task queued however many changes ask, one re-run if more arrive."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from django_q.models import OrmQ

import alerts.rules
import alerts.tasks
from alerts.models import Alert, EvaluationQueue
from alerts.queueing import QUEUE_NAME, TASK, request_evaluation, slot_seconds
from alerts.receivers import queue_evaluation
from alerts.tasks import evaluate_and_deliver
from instances.models import Instance, Status

SECRET = "segredo-do-webhook"


@pytest.fixture(autouse=True)
def _quiet_channels(settings) -> None:
    """Only the log channel: these tests are about how often the worker evaluates, not where it posts."""
    settings.SLACK_WEBHOOK_URL = settings.SLACK_BOT_TOKEN = ""
    settings.ALERT_EMAILS = []
    settings.EVOLUTION_WEBHOOK_SECRET = SECRET


def queued() -> list[dict]:
    """Return the task packages waiting in the ORM broker, oldest first."""
    return [row.task for row in OrmQ.objects.order_by("id")]


def run_queued() -> list[str]:
    """Take every waiting task off the broker and run it, as the worker would; return their results."""
    results = []
    for row in OrmQ.objects.order_by("id"):
        task = row.task
        row.delete()
        assert task["func"] == TASK
        results.append(evaluate_and_deliver(*task["args"], **task["kwargs"]))
    return results


def requests() -> int:
    return EvaluationQueue.objects.get(name=QUEUE_NAME).requests


def close(client, name: str) -> None:
    envelope = {"event": "connection.update", "instance": name, "data": {"state": "close", "statusReason": 401}}
    response = client.post(
        "/webhooks/evolution", envelope, content_type="application/json", HTTP_X_WEBHOOK_SECRET=SECRET
    )
    assert response.json()["mudou"] is True


@pytest.mark.django_db
def test_a_burst_of_a_thousand_requests_queues_one_evaluation(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(1000):
            queue_evaluation()

    [task] = queued()
    assert (task["func"], task["name"]) == (TASK, "avaliar-alertas")
    assert task["kwargs"]["slot"] == EvaluationQueue.objects.get(name=QUEUE_NAME).queued_until
    assert requests() == 1000


@pytest.mark.django_db
def test_a_wave_of_close_webhooks_is_evaluated_by_one_task(
    client, make_instance, settings, django_capture_on_commit_callbacks
) -> None:
    settings.OFFLINE_DEBOUNCE_SECONDS = 0  # every close counts at once, whatever its code
    hour_ago = timezone.now() - timedelta(hours=1)
    names = [f"zap-{n:02}" for n in range(1, 21)]
    for i, name in enumerate([*names, "zap-fica"]):
        make_instance(name, phone_number=f"55119999{i:05}", status_since=hour_ago, last_seen_connected_at=hour_ago)

    with django_capture_on_commit_callbacks(execute=True):
        for name in names:
            close(client, name)

    assert len(queued()) == 1
    run_queued()
    assert set(Alert.objects.filter(instance__name__in=names).values_list("instance__name", flat=True)) == set(names)
    assert queued() == []


@pytest.mark.django_db
def test_requests_while_the_task_runs_queue_exactly_one_rerun(make_instance, monkeypatch) -> None:
    make_instance("zap-01", status=Status.CONNECTED)
    real_evaluate = alerts.rules.evaluate

    def evaluate_while_webhooks_arrive() -> alerts.rules.Evaluation:
        for _ in range(5):
            assert not request_evaluation()  # the running task holds the slot
        return real_evaluate()

    assert request_evaluation()
    monkeypatch.setattr(alerts.tasks, "evaluate", evaluate_while_webhooks_arrive)
    run_queued()

    [rerun] = queued()
    assert rerun["func"] == TASK
    monkeypatch.setattr(alerts.tasks, "evaluate", real_evaluate)
    run_queued()
    assert queued() == []  # nothing new arrived during the re-run: no third run


@pytest.mark.django_db
def test_a_task_run_with_nothing_new_frees_the_slot_for_the_next_request(make_instance) -> None:
    make_instance("zap-01", status=Status.CONNECTED)
    request_evaluation()

    run_queued()

    assert queued() == []
    assert EvaluationQueue.objects.get(name=QUEUE_NAME).queued_until is None
    assert request_evaluation()


@pytest.mark.django_db
def test_a_crashed_task_holds_the_slot_only_until_it_expires() -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert request_evaluation()
        OrmQ.objects.all().delete()  # the worker died with the task: the slot is never released

        clock.shift(timedelta(seconds=slot_seconds() - 1))
        assert not request_evaluation()
        assert queued() == []

        clock.shift(timedelta(seconds=2))
        assert request_evaluation()
        assert len(queued()) == 1


@pytest.mark.django_db
def test_an_evaluation_that_fails_still_frees_the_slot(monkeypatch) -> None:
    def explode() -> None:
        raise RuntimeError("boom")

    request_evaluation()
    monkeypatch.setattr(alerts.tasks, "evaluate", explode)
    with pytest.raises(RuntimeError, match="boom"):
        run_queued()

    assert request_evaluation()


@pytest.mark.django_db
def test_a_run_by_hand_leaves_the_queued_task_its_slot(make_instance) -> None:
    make_instance("zap-01", status=Status.CONNECTED)
    assert request_evaluation()

    evaluate_and_deliver()  # not queued by a claim: nothing of its own to free

    assert not request_evaluation()
    assert len(queued()) == 1


@pytest.mark.django_db
def test_an_overdue_task_leaves_a_newer_claim_alone(make_instance) -> None:
    make_instance("zap-01", status=Status.CONNECTED)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        request_evaluation()
        [overdue] = OrmQ.objects.all()
        clock.shift(timedelta(seconds=slot_seconds() + 1))
        assert request_evaluation()  # the slot expired while the first task waited
        newer = EvaluationQueue.objects.get(name=QUEUE_NAME).queued_until

        task = overdue.task
        overdue.delete()
        evaluate_and_deliver(*task["args"], **task["kwargs"])

        assert EvaluationQueue.objects.get(name=QUEUE_NAME).queued_until == newer
        assert len(queued()) == 1  # the newer task only


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_queue_one_task() -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite in-memory test databases serialise writers; the race needs PostgreSQL")
    barrier = threading.Barrier(8)
    claimed: list[bool] = []

    def ask() -> None:
        barrier.wait()
        try:
            claimed.append(request_evaluation())
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(claimed) == [False] * 7 + [True]
    assert len(queued()) == 1
    assert requests() == 8


@pytest.mark.django_db
def test_a_webhook_is_recorded_while_the_redis_broker_is_unreachable_and_the_next_request_queues_again(
    client, make_instance, settings, monkeypatch, django_capture_on_commit_callbacks, caplog
) -> None:
    import django_q.conf

    from tests.fakes.common import closed_port

    settings.OFFLINE_DEBOUNCE_SECONDS = 0
    hour_ago = timezone.now() - timedelta(hours=1)
    make_instance("zap-01", status_since=hour_ago, last_seen_connected_at=hour_ago)
    make_instance("zap-fica", phone_number="5511999990002", status_since=hour_ago, last_seen_connected_at=hour_ago)
    # Production's broker when REDIS_URL is set, on a Redis that is not there.
    monkeypatch.setattr(django_q.conf.Conf, "ORM", None)
    monkeypatch.setattr(django_q.conf.Conf, "REDIS", f"redis://127.0.0.1:{closed_port()}/0")

    with django_capture_on_commit_callbacks(execute=True):
        close(client, "zap-01")  # answered, and the close is recorded

    assert Instance.objects.get(name="zap-01").status == Status.DISCONNECTED
    assert EvaluationQueue.objects.get(name=QUEUE_NAME).queued_until is None  # the slot is not held by nothing
    assert "alert evaluation not queued, the task broker failed" in caplog.text

    monkeypatch.setattr(django_q.conf.Conf, "ORM", "default")  # the broker is back
    assert request_evaluation()
    run_queued()
    assert Alert.objects.filter(instance__name="zap-01").exists()
