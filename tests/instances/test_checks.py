"""The check cycle against the gateway simulator: discovery, status changes, batched writes, failures."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from instances.checks import run_cycle
from instances.models import CheckCycle, Instance, Status, StatusChange
from julia_monitor.lib.circuits import CircuitBreaker, CircuitState
from tests.instances.support import API_KEY, instance
from tests.support import PROBE_TIMEOUT

# --- Discovery -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_registers_new_gateway_instances_with_the_default_capacities(gateway, settings) -> None:
    settings.DEFAULT_CAPACITY_PER_HOUR = 11
    settings.DEFAULT_CAPACITY_PER_DAY = 77
    gateway.add_instance("zap-new", state="open", phone_number="5511999990042")

    summary = run_cycle()

    new = instance("zap-new")
    assert (new.capacity_per_hour, new.capacity_per_day) == (11, 77)
    assert new.phone_number == "5511999990042"
    assert new.status == Status.CONNECTED
    assert summary.discovered == 1
    assert CheckCycle.objects.get().discovered == 1


@pytest.mark.django_db
def test_it_fills_a_missing_phone_number_and_keeps_the_gateway_disconnection(gateway, make_instance) -> None:
    gateway.add_instance("zap-01", state="open", phone_number="5511999990001")
    make_instance("zap-01", phone_number="", last_seen_connected_at=timezone.now() - timedelta(minutes=5))
    gateway.set_state("zap-01", "close", code=401)

    run_cycle()

    zap = instance("zap-01")
    assert zap.phone_number == "5511999990001"
    assert zap.disconnection_code == 401
    assert zap.disconnection_at is not None
    assert zap.status == Status.DISCONNECTED


# --- Status changes ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_ban_is_recorded_once_with_its_status_change(fleet, gateway) -> None:
    gateway.set_state("zap-02", "close", code=403)

    first = run_cycle()
    second = run_cycle()

    assert instance("zap-02").status == Status.BANNED
    change = StatusChange.objects.get()
    assert (change.instance.name, change.old_status, change.new_status) == ("zap-02", "connected", "banned")
    assert "403" in change.reason
    assert first.changes == [change]
    assert second.changes == []


@pytest.mark.django_db
def test_a_logout_is_a_disconnection_not_a_ban(fleet, gateway) -> None:
    gateway.set_state("zap-03", "close", code=401)

    run_cycle()

    assert instance("zap-03").status == Status.DISCONNECTED
    assert "QR" in StatusChange.objects.get().reason


@pytest.mark.django_db
def test_an_old_ban_code_does_not_ban_an_instance_seen_connected_since(gateway, make_instance) -> None:
    gateway.add_instance("zap-01", state="close", disconnection_code=403)
    gateway.set_state("zap-01", "open")  # re-paired: Evolution keeps the old code
    make_instance("zap-01", status=Status.UNKNOWN)
    run_cycle()
    assert instance("zap-01").status == Status.CONNECTED

    gateway.set_state("zap-01", "close")  # a transient drop, no new code
    run_cycle()

    assert instance("zap-01").status == Status.DISCONNECTED


@pytest.mark.django_db
def test_a_reconnect_after_a_drop_is_recorded_both_ways(fleet, gateway) -> None:
    gateway.set_state("zap-01", "connecting")
    run_cycle()
    gateway.set_state("zap-01", "open")
    run_cycle()

    changes = StatusChange.objects.order_by("id").values_list("old_status", "new_status")
    assert list(changes) == [("connected", "connecting"), ("connecting", "connected")]


@pytest.mark.django_db
def test_an_inactive_instance_is_not_probed(fleet, gateway) -> None:
    Instance.objects.filter(name="zap-05").update(is_active=False)

    summary = run_cycle()

    assert summary.probed == 4
    assert instance("zap-05").last_checked_at is None
    assert instance("zap-04").last_checked_at is not None


@pytest.mark.django_db
def test_the_summary_is_one_readable_line(fleet, gateway) -> None:
    gateway.set_state("zap-01", "close")
    gateway.set_fault("zap-02", "error_body")

    summary = run_cycle()

    # zap-02's probe failed: it keeps its last known status (connected).
    assert re.fullmatch(r"5 verificadas, 4 online, 1 falha, 1 mudança, 0 novas em \d+\.\ds", str(summary))
    cycle = CheckCycle.objects.get()
    assert (cycle.probed, cycle.online, cycle.failures, cycle.changes, cycle.gateway_ok) == (5, 4, 1, 1, True)


# --- Batched writes ------------------------------------------------------------------------------


def add_quiet_instances(gateway, make_instance, names: list[str]) -> None:
    """Instances open on the gateway and connected here, with two old failures each."""
    seen = timezone.now() - timedelta(minutes=1)
    for name in names:
        gateway.add_instance(name, state="open")
        make_instance(name, last_seen_connected_at=seen, consecutive_failures=2)


@pytest.mark.django_db
def test_a_quiet_cycle_costs_the_same_few_queries_for_5_or_50_instances(
    gateway, make_instance, django_assert_max_num_queries
) -> None:
    add_quiet_instances(gateway, make_instance, [f"zap-{i:03d}" for i in range(5)])
    run_cycle()  # the first cycle ever also creates the lease row
    with CaptureQueriesContext(connection) as small:
        run_cycle()
    add_quiet_instances(gateway, make_instance, [f"zap-{i:03d}" for i in range(5, 50)])
    started = timezone.now()

    # The savepoints that keep one row's failure from aborting the rest count as queries here.
    with django_assert_max_num_queries(16) as large:
        summary = run_cycle()

    assert len(large) == len(small)
    assert summary.probed == 50
    assert set(Instance.objects.values_list("consecutive_failures", flat=True)) == {0}
    assert Instance.objects.filter(last_seen_connected_at__gte=started).count() == 50


# --- Failures ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_hanging_instance_fails_alone_and_does_not_hold_up_the_cycle(gateway, make_instance) -> None:
    gateway.add_instances(20)
    for i in range(1, 21):
        make_instance(f"sim-{i:03d}", status=Status.CONNECTED)
    gateway.set_state("sim-001", "connecting")
    gateway.set_fault("sim-003", "hang")

    started = time.monotonic()
    summary = run_cycle()
    elapsed = time.monotonic() - started

    assert elapsed < PROBE_TIMEOUT + 1.0
    hung = instance("sim-003")
    assert (hung.status, hung.consecutive_failures) == (Status.CONNECTED, 1)
    assert hung.last_error
    assert instance("sim-001").status == Status.CONNECTING
    assert instance("sim-002").last_checked_at is not None
    assert summary.failures == 1
    assert summary.failed.keys() == {"sim-003"}

    run_cycle()
    assert instance("sim-003").consecutive_failures == 2


@pytest.mark.django_db
def test_each_failed_instance_keeps_its_own_error(fleet, gateway) -> None:
    gateway.set_fault("zap-02", "error_body")
    gateway.set_fault("zap-03", "not_found")
    gateway.set_fault("zap-04", "http500")

    summary = run_cycle()

    errors = dict(Instance.objects.values_list("name", "last_error"))
    assert "Connection Closed" in errors["zap-02"]
    assert "404" in errors["zap-03"]
    assert "500" in errors["zap-04"]
    assert errors["zap-01"] == errors["zap-05"] == ""
    assert summary.failures == 3
    assert set(Instance.objects.values_list("status", flat=True)) == {Status.CONNECTED}


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["license_required", "http500", "down"])
def test_a_gateway_outage_changes_no_status_and_counts_on_the_circuit(fleet, gateway, fault: str) -> None:
    gateway.set_gateway_fault(fault)

    summary = run_cycle()

    assert not summary.gateway_ok
    assert summary.gateway_error
    assert str(summary).startswith("gateway indisponível")
    assert set(Instance.objects.values_list("status", flat=True)) == {Status.CONNECTED}
    assert set(Instance.objects.values_list("consecutive_failures", flat=True)) == {0}
    assert not StatusChange.objects.exists()
    cycle = CheckCycle.objects.get()
    assert (cycle.gateway_ok, cycle.online) == (False, 5)
    assert CircuitBreaker("gateway").snapshot().failures == 1


@pytest.mark.django_db
def test_a_gateway_that_lists_the_fleet_but_answers_no_probe_is_a_gateway_problem(fleet, gateway) -> None:
    for inst in fleet:
        gateway.set_fault(inst.name, "hang")

    summary = run_cycle()

    assert not summary.gateway_ok
    assert set(Instance.objects.values_list("consecutive_failures", flat=True)) == {0}
    assert CircuitBreaker("gateway").snapshot().failures == 1


@pytest.mark.django_db
def test_the_license_gate_is_named_in_the_cycle(fleet, gateway) -> None:
    gateway.set_gateway_fault("license_required")

    summary = run_cycle()

    assert "LICENSE_REQUIRED" in summary.gateway_error


@pytest.mark.django_db
def test_the_circuit_opens_after_the_threshold_and_the_cycle_then_spares_the_gateway(fleet, gateway, settings) -> None:
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    settings.CIRCUIT_COOLDOWN_SECONDS = 60
    gateway.set_gateway_fault("http500")
    run_cycle()
    run_cycle()
    assert CircuitBreaker("gateway").snapshot().state() == CircuitState.OPEN
    requests_before = gateway.request_count("/instance")

    skipped = run_cycle()

    assert gateway.request_count("/instance") == requests_before
    assert not skipped.gateway_ok
    assert "circuito" in skipped.gateway_error

    gateway.set_gateway_fault(None)
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        trial = run_cycle()
    assert trial.gateway_ok
    assert CircuitBreaker("gateway").snapshot().state() == CircuitState.CLOSED


@pytest.mark.django_db
def test_a_wrong_api_key_opens_the_circuit_at_once_and_a_trial_notices_the_fix(fleet, gateway, settings) -> None:
    settings.EVOLUTION_API_KEY = "wrong-key"
    assert not run_cycle().gateway_ok
    assert CircuitBreaker("gateway").snapshot().state() == CircuitState.OPEN
    assert "circuito" in run_cycle().gateway_error  # open: the gateway is not asked again at once

    settings.EVOLUTION_API_KEY = API_KEY
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.CIRCUIT_COOLDOWN_SECONDS + 1)):
        assert run_cycle().gateway_ok  # the half-open trial goes through

    assert CircuitBreaker("gateway").snapshot().state() == CircuitState.CLOSED
