"""Running the check cycle: one at a time (the lease), by the command, by the task and its schedule."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection, connections
from django.utils import timezone
from django_q.models import Schedule

from instances.checks import run_cycle
from instances.gateway import EvolutionClient
from instances.models import CheckCycle, MonitorLease, Status, StatusChange
from instances.tasks import check_instances
from tests.fakes.common import closed_port
from tests.instances.support import instance

# --- One cycle at a time -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_cycle_is_skipped_while_another_holds_the_lease(fleet, gateway) -> None:
    assert MonitorLease.acquire("check-cycle", seconds=60)

    summary = run_cycle()

    assert str(summary) == "ciclo ignorado: outro ciclo em andamento"
    assert gateway.request_count("/instance") == 0
    assert not CheckCycle.objects.exists()


@pytest.mark.django_db
def test_the_lease_is_released_even_when_the_cycle_crashes(fleet, gateway, monkeypatch) -> None:
    async def explode(self: EvolutionClient) -> tuple:
        raise RuntimeError("boom")

    monkeypatch.setattr(EvolutionClient, "afetch_fleet", explode)
    with pytest.raises(RuntimeError):
        run_cycle()
    monkeypatch.undo()

    assert run_cycle().gateway_ok


@pytest.mark.django_db(transaction=True)
def test_two_cycles_at_once_record_a_change_once(gateway, make_instance) -> None:
    gateway.add_instance("zap-01", state="open")
    gateway.add_instance("zap-02", state="open")
    make_instance("zap-01", last_seen_connected_at=timezone.now() - timedelta(minutes=1))
    make_instance("zap-02")
    gateway.set_state("zap-01", "close", code=403)
    gateway.set_fault("zap-02", "hang")  # keeps the first cycle busy for one timeout
    results = []

    def cycle() -> None:
        try:
            results.append(run_cycle())
        finally:
            connection.close()

    first = threading.Thread(target=cycle)
    first.start()
    deadline = time.monotonic() + 5
    while gateway.request_count("/instance/connectionState") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    second = run_cycle()
    first.join(timeout=10)

    assert str(second) == "ciclo ignorado: outro ciclo em andamento"
    assert [str(r).startswith("2 verificadas") for r in results] == [True]
    assert StatusChange.objects.filter(new_status=Status.BANNED).count() == 1
    assert CheckCycle.objects.count() == 1


# --- The command and the task --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_prints_the_summary(fleet, gateway, capsys) -> None:
    call_command("check_instances")

    assert re.fullmatch(
        r"5 verificadas, 5 online, 0 falhas, 0 mudanças, 0 novas em \d+\.\ds\n", capsys.readouterr().out
    )


@pytest.mark.django_db
def test_the_command_exits_non_zero_with_one_line_when_the_gateway_is_unreachable(
    settings, make_instance, capsys, monkeypatch
):
    settings.EVOLUTION_API_URL = f"http://127.0.0.1:{closed_port()}"
    make_instance("zap-01")
    # run_from_argv closes every connection when it ends, the test's transaction with it.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "check_instances"])

    err = capsys.readouterr().err
    assert exited.value.code == 1
    assert "gateway inacessível" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert instance("zap-01").status == Status.CONNECTED


@pytest.mark.django_db
def test_the_task_runs_one_cycle(fleet, gateway) -> None:
    assert check_instances().startswith("5 verificadas")
    assert CheckCycle.objects.count() == 1


@pytest.mark.django_db
def test_migrating_twice_leaves_one_every_minute_schedule() -> None:
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    schedule = Schedule.objects.get(func="instances.tasks.check_instances")
    assert (schedule.name, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "check-instances",
        Schedule.MINUTES,
        1,
        -1,
    )


@pytest.mark.django_db
def test_migrating_collapses_a_duplicated_schedule_into_one() -> None:
    for _ in range(2):
        Schedule.objects.create(
            name="check-instances", func="instances.tasks.check_instances", schedule_type=Schedule.MINUTES, minutes=5
        )

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    assert list(Schedule.objects.filter(name="check-instances").values_list("minutes", flat=True)) == [1]
