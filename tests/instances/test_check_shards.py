"""The minute's check split into CHECK_SHARDS slices: every instance checked exactly once per
minute, one alert evaluation per minute, and a shard that never reports costs only freshness.

The shard tasks run inline (``worker``: what the broker would hand to the qclusters); real
qclusters on Redis are in tests/faults/test_sharded_qclusters.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.choices import Rule
from alerts.models import Alert, EvaluationQueue
from alerts.queueing import QUEUE_NAME
from instances.models import CheckCycle, CheckRound, Instance, MonitorLease, Status
from instances.rounds import round_timeout
from instances.shards import Shard, shard_of
from instances.simulator import GatewaySimulator
from instances.tasks import check_instances
from julia_monitor.health import run_health_checks
from tests.conftest import SIMULATOR_KEY
from tests.support import PROBE_TIMEOUT

PROBES = "/instance/connectionState/"
names_strategy = st.sets(st.from_regex(r"[a-z][a-z0-9-]{0,24}", fullmatch=True), max_size=14)


@given(names=names_strategy, shards=st.integers(min_value=1, max_value=9))
def test_every_name_belongs_to_exactly_one_shard_whatever_else_is_in_the_fleet(names: set[str], shards: int) -> None:
    owners = {name: [k for k in range(shards) if name in Shard(k, shards)] for name in names}
    assert all(len(found) == 1 for found in owners.values()), owners
    # Stable as instances come and go: a name's shard depends on nothing but the name.
    assert all(owners[name] == [shard_of(name, shards)] for name in names)


def evaluations() -> int:
    """Return how many alert evaluations were asked for so far (each cycle_finished asks for one)."""
    return EvaluationQueue.objects.filter(name=QUEUE_NAME).values_list("requests", flat=True).first() or 0


@pytest.fixture
def gateway(settings) -> Iterator[GatewaySimulator]:
    settings.EVOLUTION_API_KEY = SIMULATOR_KEY
    settings.EVOLUTION_TIMEOUT = PROBE_TIMEOUT
    settings.SLACK_WEBHOOK_URL = settings.SLACK_BOT_TOKEN = ""
    settings.ALERT_EMAILS = []
    with GatewaySimulator(api_key=SIMULATOR_KEY, seed=3) as sim:
        settings.EVOLUTION_API_URL = sim.url
        yield sim


@pytest.mark.django_db
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=names_strategy, shards=st.integers(min_value=1, max_value=5), minutes=st.integers(1, 3))
def test_sharded_minutes_check_every_instance_exactly_once_and_evaluate_once(
    names: set[str],
    shards: int,
    minutes: int,
    gateway: GatewaySimulator,
    worker: Callable[[], AbstractContextManager],
    settings,
) -> None:
    for model in (CheckCycle, CheckRound, Instance, EvaluationQueue):
        model.objects.all().delete()
    gateway.forget_all()
    for name in names:
        gateway.add_instance(name)
    settings.CHECK_SHARDS = shards

    for minute in range(1, minutes + 1):
        probed_before = gateway.request_count(PROBES)
        with worker():
            check_instances()
        # Discovered once (the first minute, by the name's own shard), probed once a minute.
        assert set(Instance.objects.values_list("name", flat=True)) == names
        assert gateway.request_count(PROBES) - probed_before == len(names)
        assert Instance.objects.filter(last_read_at__isnull=True).count() == 0
        assert evaluations() == minute  # one evaluation a minute, not one per shard
    cycles = CheckCycle.objects.all()
    assert sum(c.discovered for c in cycles) == len(names)
    assert sum(c.probed for c in cycles) == len(names) * minutes
    if shards == 1:
        # Today's behaviour: one whole-fleet cycle a minute, no rounds.
        assert not CheckRound.objects.exists()
        assert sorted((c.shard, c.shards) for c in cycles) == [(0, 1)] * minutes
        return
    for current in CheckRound.objects.all():
        assert current.closed_at is not None and current.missing == []
        assert sorted(current.cycles.values_list("shard", flat=True)) == list(range(shards))
        for cycle in current.cycles.all():
            assert cycle.probed == sum(1 for name in names if shard_of(name, shards) == cycle.shard)


def names_in_two_shards() -> tuple[list[str], list[str]]:
    names = [f"zap-{n:02d}" for n in range(1, 13)]
    first = [n for n in names if shard_of(n, 2) == 0]
    second = [n for n in names if shard_of(n, 2) == 1]
    assert first and second
    return first, second


@pytest.mark.django_db(transaction=True)
def test_a_shard_that_never_reports_makes_its_instances_stale_not_offline_and_the_timeout_still_evaluates(
    gateway: GatewaySimulator, worker: Callable[[], AbstractContextManager], settings
) -> None:
    settings.CHECK_SHARDS = 2
    settings.OFFLINE_DEBOUNCE_SECONDS = 0
    first, second = names_in_two_shards()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for name in first + second:
            gateway.add_instance(name)
        with worker():
            check_instances()
        assert Instance.objects.filter(status=Status.CONNECTED).count() == len(first) + len(second)
        assert evaluations() == 1

        # Shard 1's worker hangs (its lease is held and never given back); numbers drop in both slices.
        assert MonitorLease.acquire("check-cycle:1/2", seconds=3600)
        gateway.set_state(first[0], "close")
        gateway.set_state(second[0], "close")
        clock.shift(timedelta(seconds=60))
        with worker():
            check_instances()
        late = CheckRound.objects.order_by("started_at").last()
        assert late.closed_at is None and list(late.cycles.values_list("shard", flat=True)) == [0]
        assert evaluations() == 1  # the minute is not complete: no evaluation yet
        assert not Alert.objects.exists()
        assert Instance.objects.get(name=first[0]).status == Status.DISCONNECTED

        # The next minute closes it on the timeout, missing shard 1, and evaluates once.
        clock.shift(round_timeout() + timedelta(seconds=1))
        with worker():
            check_instances()
        late.refresh_from_db()
        assert late.closed_at is not None and late.missing == [1]
        assert evaluations() == 2
        assert Alert.objects.filter(rule=Rule.INSTANCE_OFFLINE, instance__name=first[0]).exists()

        # Shard 1's instances were never read as closed: they keep their last status, then go unknown.
        unread = Instance.objects.get(name=second[0])
        assert unread.status == Status.CONNECTED
        assert unread.shown_status() == Status.CONNECTED
        clock.move_to(unread.last_read_at + timedelta(seconds=settings.STATUS_STALE_AFTER_SECONDS + 1))
        with worker():
            check_instances()
        unread.refresh_from_db()
        assert unread.status == Status.CONNECTED and unread.shown_status() == Status.UNKNOWN
        assert not Alert.objects.filter(instance__name__in=second).exists()  # never offline
        health = run_health_checks()
        assert health.checks["monitor"] is False  # a stale shard is a stale monitor
        assert health.details["fatias"] == "1/2 em dia"
        assert health.details["fatias_ultimo_ciclo"]["0"] is not None


@pytest.mark.django_db
def test_a_whole_fleet_cycle_counts_for_every_shard(gateway: GatewaySimulator, settings) -> None:
    from instances.checks import run_cycle

    settings.CHECK_SHARDS = 3
    gateway.add_instances(4)
    assert run_health_checks().checks["monitor"] is False
    run_cycle()  # manage.py check_instances: the whole fleet, whatever CHECK_SHARDS says
    health = run_health_checks()
    assert health.checks["monitor"] is True
    assert health.details["fatias"] == "3/3 em dia"


@pytest.mark.django_db
def test_bad_answers_seen_by_different_shards_are_named_in_one_alert(
    gateway: GatewaySimulator, worker: Callable[[], AbstractContextManager], settings
) -> None:
    settings.CHECK_SHARDS = 2
    first, second = names_in_two_shards()
    for name in first + second:
        gateway.add_instance(name)
    gateway.set_fault(first[0], "garbage")
    gateway.set_fault(second[0], "garbage")

    with worker():
        check_instances()

    alert = Alert.objects.get(rule=Rule.GATEWAY_BAD_DATA)
    assert f"estado de '{first[0]}'" in alert.message and f"estado de '{second[0]}'" in alert.message
