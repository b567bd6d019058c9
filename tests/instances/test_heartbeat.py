"""The dead-man's heartbeat: every check cycle the worker runs pings a Healthchecks-style URL.

A real local server stands in for Healthchecks and records what reaches it; the cycles are real
(the simulated gateway), run through the worker's task ``instances.tasks.check_instances``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from instances import heartbeat
from instances.checks import LEASE_NAME, CycleSummary
from instances.models import CheckCycle, CheckRound, MonitorLease
from instances.rounds import round_timeout
from instances.tasks import check_instances
from tests.fakes.common import closed_port
from tests.fakes.healthchecks import PING_PATH, FakeHealthchecks, Ping
from tests.faults.processes import ROOT


@pytest.fixture
def healthchecks(settings, _no_proxy) -> Iterator[FakeHealthchecks]:
    """A fake Healthchecks, its check's ping URL in MONITOR_HEARTBEAT_URL."""
    with FakeHealthchecks() as fake:
        settings.MONITOR_HEARTBEAT_URL = fake.url
        settings.MONITOR_HEARTBEAT_TIMEOUT = 2.0
        yield fake


@pytest.fixture
def run_task(worker):
    """The every-minute task as the worker runs it, with what it queues on commit."""

    def run() -> str:
        with worker():
            return check_instances()

    return run


def test_a_successful_cycle_pings_the_url_once(simulated_fleet, healthchecks, run_task) -> None:
    result = run_task()

    assert result.startswith("3 verificadas, 3 online")
    assert healthchecks.pings == [Ping("GET", PING_PATH, "")]


def test_a_cycle_that_cannot_reach_the_gateway_posts_its_summary_to_fail(
    simulated_fleet, healthchecks, run_task
) -> None:
    simulated_fleet.set_gateway_fault("http500")

    result = run_task()

    assert healthchecks.pings == [Ping("POST", f"{PING_PATH}/fail", result)]
    assert result.startswith("gateway indisponível:")


def test_a_cycle_that_finds_the_circuit_open_says_so_on_fail(simulated_fleet, healthchecks, run_task, settings) -> None:
    settings.CIRCUIT_FAILURE_THRESHOLD = 1
    simulated_fleet.set_gateway_fault("http500")
    run_task()  # opens the circuit

    run_task()

    first, second = healthchecks.pings
    assert (first.method, first.path) == (second.method, second.path) == ("POST", f"{PING_PATH}/fail")
    assert "circuito aberto, gateway não consultado" in second.body
    assert "circuito aberto" not in first.body


def test_a_cycle_that_raises_pings_fail_then_the_error_reaches_the_worker(
    simulated_fleet, healthchecks, run_task, settings
) -> None:
    settings.EVOLUTION_API_URL = "http://[::1"  # an address no client can even build

    with pytest.raises(Exception, match="Invalid port") as raised:
        run_task()

    (ping,) = healthchecks.pings
    assert (ping.method, ping.path) == ("POST", f"{PING_PATH}/fail")
    assert ping.body.startswith(f"ciclo falhou com exceção: {type(raised.value).__name__}: Invalid port")
    assert "Traceback (most recent call last)" in ping.body


def test_a_cycle_skipped_for_another_workers_lease_pings_nothing(simulated_fleet, healthchecks, run_task) -> None:
    assert MonitorLease.acquire(LEASE_NAME, seconds=60) is not None  # another worker's cycle

    assert run_task() == "ciclo ignorado: outro ciclo em andamento"

    assert healthchecks.pings == []


def test_without_a_url_nothing_is_pinged(simulated_fleet, healthchecks, run_task, settings) -> None:
    settings.MONITOR_HEARTBEAT_URL = ""

    assert run_task().startswith("3 verificadas")

    assert healthchecks.pings == []


def test_a_dead_url_costs_one_log_line_and_never_the_secret_path(simulated_fleet, settings, run_task, caplog) -> None:
    port = closed_port()
    settings.MONITOR_HEARTBEAT_URL = f"http://127.0.0.1:{port}{PING_PATH}"
    caplog.set_level(logging.WARNING)

    assert run_task().startswith("3 verificadas")

    lines = [r.getMessage() for r in caplog.records if r.name.startswith("julia_monitor")]
    assert lines == [f"heartbeat: ping to http://127.0.0.1:{port} failed: ConnectError"]
    assert "segredo" not in caplog.text


def test_a_hanging_watcher_holds_the_cycle_no_longer_than_its_timeout(
    simulated_fleet, healthchecks, settings, run_task, caplog
) -> None:
    settings.MONITOR_HEARTBEAT_TIMEOUT = 1.0
    healthchecks.hang()
    caplog.set_level(logging.INFO)

    started = time.monotonic()
    result = run_task()
    elapsed = time.monotonic() - started

    assert result.startswith("3 verificadas")
    assert len(healthchecks.pings) == 1  # it was asked, and never answered
    host = healthchecks.url.removesuffix(PING_PATH)
    (gave_up,) = [r for r in caplog.records if r.name.startswith("julia_monitor")]
    assert gave_up.getMessage() == f"heartbeat: ping to {host} got no answer within 1s"
    # From the cycle's own last line to the heartbeat giving up: the timeout, and a little more.
    (cycle_line,) = [r for r in caplog.records if r.name == "instances.checks"]
    assert 1.0 <= gave_up.created - cycle_line.created < 1.0 + 0.5
    cycle = CheckCycle.objects.get()
    assert elapsed < (cycle.finished_at - cycle.started_at).total_seconds() + 1.0 + 3.0  # the evaluation, too


def test_a_watcher_that_refuses_the_ping_costs_one_log_line(simulated_fleet, healthchecks, run_task, caplog) -> None:
    healthchecks.status = 404  # a check deleted in Healthchecks, or a mistyped URL
    caplog.set_level(logging.WARNING)

    assert run_task().startswith("3 verificadas")

    host = healthchecks.url.removesuffix(PING_PATH)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("julia_monitor")]
    assert lines == [f"heartbeat: ping to {host} answered HTTP 404"]


# Sequences of cycle outcomes, straight through ``report`` (no database): each cycle that ran
# pings exactly once, in order, with the right kind; a skipped one pings nothing.
OUTCOMES = {
    "ok": CycleSummary(probed=3, online=3),
    "gateway": CycleSummary(gateway_ok=False, gateway_error="HTTP 502 do gateway"),
    "circuit": CycleSummary(gateway_ok=False, gateway_error="circuito aberto, gateway não consultado (HTTP 502)"),
    "skipped": CycleSummary(skipped="outro ciclo em andamento"),
    "raised": RuntimeError("o banco caiu"),
}


@pytest.fixture(scope="module")
def module_healthchecks() -> Iterator[FakeHealthchecks]:
    with FakeHealthchecks() as fake, pytest.MonkeyPatch.context() as patch:
        patch.setenv("NO_PROXY", "127.0.0.1")
        yield fake


@given(st.lists(st.sampled_from(sorted(OUTCOMES)), max_size=8))
def test_every_cycle_that_ran_pings_once_in_order(module_healthchecks, outcomes) -> None:
    module_healthchecks.pings.clear()

    with override_settings(MONITOR_HEARTBEAT_URL=module_healthchecks.url):
        for outcome in outcomes:
            heartbeat.report(OUTCOMES[outcome])

    ran = [outcome for outcome in outcomes if outcome != "skipped"]
    expected = [("GET", PING_PATH) if outcome == "ok" else ("POST", f"{PING_PATH}/fail") for outcome in ran]
    assert [(p.method, p.path) for p in module_healthchecks.pings] == expected
    said = {"gateway": "gateway indisponível: HTTP 502", "circuit": "circuito aberto", "raised": "o banco caiu"}
    posted = [outcome for outcome in ran if outcome != "ok"]
    bodies = [p.body for p in module_healthchecks.pings if p.method == "POST"]
    assert all(said[outcome] in body for outcome, body in zip(posted, bodies, strict=True))


def test_the_fail_ping_keeps_a_query_string_after_fail(healthchecks, settings) -> None:
    settings.MONITOR_HEARTBEAT_URL = healthchecks.url + "?create=1"

    heartbeat.report(OUTCOMES["gateway"])

    (ping,) = healthchecks.pings
    assert ping.path == f"{PING_PATH}/fail?create=1"


@pytest.mark.parametrize("url", ["ftp://hc-ping.com/segredo", "hc-ping.com/segredo", "https:///segredo"])
def test_a_url_that_is_not_http_stops_the_portal_with_a_clear_error_that_hides_it(url) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "MONITOR_HEARTBEAT_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert "MONITOR_HEARTBEAT_URL must be an http:// or https:// URL with a host." in done.stderr
    assert "segredo" not in done.stderr


# --- Sharded minutes: the round reports once, when it closes -----------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_sharded_minute_pings_once_when_its_round_closes(simulated_fleet, healthchecks, worker, settings) -> None:
    settings.CHECK_SHARDS = 3

    with worker():  # runs the minute's task and the three shard tasks it queues
        check_instances()

    assert CheckRound.objects.get().closed_at is not None
    assert healthchecks.pings == [Ping("GET", PING_PATH, "")]  # once for the minute, not per shard


@pytest.mark.django_db(transaction=True)
def test_a_round_closed_without_a_shard_posts_the_missing_shard_to_fail(
    simulated_fleet, healthchecks, worker, settings
) -> None:
    settings.CHECK_SHARDS = 2
    # Shard 1's worker hangs: its lease is held and never given back.
    assert MonitorLease.acquire(f"{LEASE_NAME}:1/2", seconds=3600)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        with worker():
            check_instances()
        assert healthchecks.pings == []  # the minute is not complete yet

        clock.shift(round_timeout() + timedelta(seconds=1))
        with worker():
            check_instances()  # closes the overdue round first

    failed = healthchecks.pings[0]
    assert (failed.method, failed.path) == ("POST", f"{PING_PATH}/fail")
    assert "sem resposta: 1" in failed.body
