"""The demo behind ``make run``: the demo fleet and its driver, ``ensure_admin``, the supervisor."""

from __future__ import annotations

import io
import signal
import sys
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from instances.simulator import GatewaySimulator
from julia_monitor.management.commands.run_demo import Child, Supervisor

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
TEN_PAST_TEN = datetime(2025, 10, 21, 10, 10, tzinfo=SAO_PAULO)


def drive(sim: GatewaySimulator, start: datetime, seconds: float, step: float = 3.0) -> list[str]:
    """Tick the demo driver every ``step`` seconds of simulated time; return its lines."""
    assert sim.driver is not None
    lines = []
    ticks = int(seconds / step)
    for n in range(ticks + 1):
        lines += sim.driver.tick(start + timedelta(seconds=n * step))
    return lines


def states(sim: GatewaySimulator) -> dict[str, str]:
    return {name: instance.state for name, instance in sim.instances.items()}


def test_the_demo_fleet_is_a_realistic_mix():
    sim = GatewaySimulator.demo(seed=1)

    fleet = list(sim.instances.values())
    assert len(fleet) == 12
    assert sum(i.state == "open" for i in fleet) == 8
    assert sum(i.state == "connecting" for i in fleet) == 2
    banned = sim.instances["julia-ce-01"]
    assert (banned.state, banned.disconnection_code, banned.row_status) == ("close", 403, "close")
    assert datetime.now(banned.disconnection_at.tzinfo) - banned.disconnection_at < timedelta(minutes=1)
    assert sim.instances["julia-df-01"].disconnection_code == 401  # logged out, not banned


def test_hot_numbers_pass_80_percent_of_their_hour_within_two_minutes():
    sim = GatewaySimulator.demo(seed=1)

    drive(sim, TEN_PAST_TEN, 120)

    sent = {name: i.messages_sent for name, i in sim.instances.items()}
    assert 24 < sent["julia-sp-01"] <= 30  # over 80 % of 30/hour, never over capacity
    assert sent["julia-rj-02"] < 10  # a quiet one stays quiet
    assert sent["julia-ce-01"] == 0  # a banned number sends nothing


def test_a_viewer_sees_states_change_within_a_couple_of_minutes():
    sim = GatewaySimulator.demo(seed=1)

    lines = drive(sim, TEN_PAST_TEN, 130)

    assert any("julia-pe-01" in line for line in lines)
    assert any("caiu (428)" in line for line in lines)
    assert sum(state != "open" for state in states(sim).values()) >= 3


def test_the_demo_keeps_moving_and_most_of_the_fleet_up_for_an_hour():
    sim = GatewaySimulator.demo(seed=3)
    down_counts = []
    assert sim.driver is not None
    lines = []
    for n in range(1200):  # one hour of 3 s ticks
        lines += sim.driver.tick(TEN_PAST_TEN + timedelta(seconds=3 * n))
        down_counts.append(sum(state != "open" for state in states(sim).values()))

    assert any("oscilou" in line for line in lines) and any("caiu" in line for line in lines)
    assert max(down_counts[100:]) <= 4  # after the opening: the banned one plus at most 3 incidents
    assert states(sim)["julia-ba-01"] == states(sim)["julia-df-01"] == "open"


def test_a_hot_number_stops_at_its_daily_target():
    sim = GatewaySimulator.demo(seed=1, changes=False)

    drive(sim, datetime(2025, 10, 21, 0, 0, 30, tzinfo=SAO_PAULO), 86_000, step=60)

    assert 150 < sim.instances["julia-sp-01"].messages_sent <= 186  # 93 % of 200/day


def test_the_story_is_the_same_for_the_same_seed():
    def story(seed: int) -> tuple[list[str], dict[str, int]]:
        sim = GatewaySimulator.demo(seed=seed)
        lines = drive(sim, TEN_PAST_TEN, 1800)
        return lines, {name: i.messages_sent for name, i in sim.instances.items()}

    assert story(5) == story(5)
    assert story(5) != story(6)


@pytest.mark.django_db
def test_ensure_admin_creates_the_admin_once_and_shows_the_password_once(monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    first, second = io.StringIO(), io.StringIO()

    call_command("ensure_admin", stdout=first)
    call_command("ensure_admin", stdout=second)

    password = first.getvalue().split("senha: ")[1].split()[0]
    admin = get_user_model().objects.get()
    assert admin.username == "admin" and admin.is_superuser and admin.check_password(password)
    assert "não será mostrada de novo" in first.getvalue()
    assert password not in second.getvalue() and "Já existe um administrador" in second.getvalue()


@pytest.mark.django_db
def test_ensure_admin_takes_the_password_from_the_environment_without_printing_it(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "from-the-env-123")
    out = io.StringIO()

    call_command("ensure_admin", "--username", "ops", stdout=out)

    assert get_user_model().objects.get(username="ops").check_password("from-the-env-123")
    assert "from-the-env-123" not in out.getvalue()


@pytest.mark.django_db
def test_ensure_admin_never_touches_an_ordinary_user_with_that_name():
    get_user_model().objects.create_user("admin", password="theirs-123")

    with pytest.raises(CommandError, match="não é administrador"):
        call_command("ensure_admin", stdout=io.StringIO())

    assert get_user_model().objects.get(username="admin").check_password("theirs-123")


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_the_supervisor_stops_everyone_when_a_child_dies_and_names_it():
    out = io.StringIO()
    supervisor = Supervisor(out, env={}, grace=2)
    sleeper = supervisor.spawn(Child("web", python("import time; print('up', flush=True); time.sleep(60)")))
    supervisor.spawn(Child("worker", python("import sys; print('boom', flush=True); sys.exit(3)")))

    dead = supervisor.wait(threading.Event(), poll=0.05)
    supervisor.stop_all()

    assert dead is not None and dead.label == "worker"
    assert dead.exit_reason() == "saiu com código 3"
    assert list(dead.tail) == ["boom"]
    assert sleeper.process.returncode == -signal.SIGTERM
    assert "[worker] boom" in out.getvalue()


def test_the_supervisor_kills_a_child_that_ignores_sigterm():
    supervisor = Supervisor(io.StringIO(), env={}, grace=0.5)
    stubborn = supervisor.spawn(
        Child(
            "sim",
            python(
                "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True);"
                " time.sleep(60)"
            ),
        )
    )
    while not stubborn.tail:  # wait until it has ignored SIGTERM
        assert stubborn.process.poll() is None
        threading.Event().wait(0.02)

    supervisor.stop_all()

    assert stubborn.process.returncode == -signal.SIGKILL
