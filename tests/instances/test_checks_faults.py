"""The cycle against a misbehaving gateway, over real HTTP: bad rows, garbage, hangs, a row that fails to save.

One bad item never stops the cycle: the rest of the fleet is read as usual and what went wrong is
recorded on the cycle (the alert rule "Dados inválidos do gateway" reads it from there).
"""

from __future__ import annotations

import time

import pytest
from django.db import DatabaseError

from instances.checks import run_cycle
from instances.models import CheckCycle, Instance, Status
from tests.instances.support import instance
from tests.support import PROBE_TIMEOUT

LONG_NAME = "n" * 101
LONG_NUMBER = "1" * 33


@pytest.fixture
def bad_rows(fleet, gateway) -> None:
    """Beside the five good numbers, a row whose name and one whose number do not fit the columns."""
    gateway.add_instance(LONG_NAME, state="open", phone_number="5511999990077")
    gateway.add_instance("zap-comprido", state="open", phone_number=LONG_NUMBER)


@pytest.mark.django_db
def test_bad_rows_are_skipped_and_the_rest_of_the_fleet_is_read(bad_rows, gateway) -> None:
    gateway.set_state("zap-02", "close")

    summary = run_cycle()

    assert summary.gateway_ok
    assert instance("zap-02").status == Status.DISCONNECTED
    assert instance("zap-01").status == Status.CONNECTED
    assert set(Instance.objects.values_list("name", flat=True)) == {f"zap-0{i}" for i in range(1, 6)}
    assert summary.probed == 5
    cycle = CheckCycle.objects.get()
    assert cycle.invalid_rows == [
        f"instância '{'n' * 40}…' (101 caracteres): nome com 101 caracteres (máximo 100)",
        "instância 'zap-comprido': número com 33 dígitos (máximo 32)",
    ]
    assert "2 linhas inválidas" in str(summary)


@pytest.mark.django_db
def test_a_row_with_a_nul_byte_in_its_name_is_skipped(fleet, gateway) -> None:
    gateway.add_instance("zap\x00-99", state="open")

    summary = run_cycle()

    assert summary.gateway_ok
    assert Instance.objects.count() == 5
    assert CheckCycle.objects.get().invalid_rows == [
        "instância 'zap\\x00-99': nome com caractere de controle ou invisível (U+0000)"
    ]


@pytest.mark.django_db
def test_a_garbage_answer_fails_that_probe_alone_and_is_reported(fleet, gateway) -> None:
    gateway.set_fault("zap-03", "garbage")
    gateway.set_state("zap-04", "close")

    summary = run_cycle()

    assert summary.gateway_ok
    assert summary.failed.keys() == {"zap-03"}
    assert (instance("zap-03").status, instance("zap-03").consecutive_failures) == (Status.CONNECTED, 1)
    assert instance("zap-04").status == Status.DISCONNECTED
    assert CheckCycle.objects.get().invalid_rows == ["estado de 'zap-03': resposta ilegível"]


@pytest.mark.django_db
def test_a_gateway_answering_garbage_is_a_gateway_problem_not_a_crash(fleet, gateway) -> None:
    gateway.set_gateway_fault("garbage")

    summary = run_cycle()

    assert not summary.gateway_ok
    assert "resposta inválida do gateway" in summary.gateway_error
    assert set(Instance.objects.values_list("status", flat=True)) == {Status.CONNECTED}


@pytest.mark.django_db
def test_a_hanging_gateway_ends_the_cycle_within_its_timeout(fleet, gateway) -> None:
    gateway.set_gateway_fault("hang")

    started = time.monotonic()
    summary = run_cycle()

    assert time.monotonic() - started < PROBE_TIMEOUT + 1.0
    assert not summary.gateway_ok
    assert "não respondeu a tempo" in summary.gateway_error
    assert set(Instance.objects.values_list("status", flat=True)) == {Status.CONNECTED}


@pytest.mark.django_db
def test_a_database_error_on_one_instance_is_counted_and_the_others_are_recorded(
    fleet, gateway, monkeypatch, caplog
) -> None:
    gateway.set_state("zap-02", "close")
    gateway.set_state("zap-03", "close")
    record_status = Instance.record_status

    def fails_for_zap_02(self: Instance, *args: object, **kwargs: object) -> object:
        if self.name == "zap-02":
            raise DatabaseError("value too long for type character varying(300)")
        return record_status(self, *args, **kwargs)

    monkeypatch.setattr(Instance, "record_status", fails_for_zap_02)

    summary = run_cycle()

    assert instance("zap-03").status == Status.DISCONNECTED
    assert instance("zap-02").status == Status.CONNECTED
    assert summary.record_errors.keys() == {"zap-02"}
    assert "1 erro ao gravar" in str(summary)
    assert CheckCycle.objects.get().record_errors == 1
    assert "could not record 'zap-02'" in caplog.text


@pytest.mark.django_db
def test_the_admin_shows_what_a_cycle_refused_escaped(fleet, gateway, as_administrator) -> None:
    gateway.add_instance("zap\x00-99", state="open")
    run_cycle()

    page = as_administrator.get(f"/admin/instances/checkcycle/{CheckCycle.objects.get().pk}/change/")

    assert page.status_code == 200
    assert "nome com caractere de controle ou invisível (U+0000)" in page.content.decode()
    assert "\x00" not in page.content.decode()
    assert as_administrator.get("/admin/instances/checkcycle/").status_code == 200
