"""The maintenance windows of the /dashboard API: list, schedule, end early; operators and keys only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.maintenance import MaintenanceWindow

pytestmark = pytest.mark.django_db


def post(client, path: str, body: dict | None = None):
    return client.post(path, json.dumps(body or {}), content_type="application/json")


def in_minutes(minutes: int) -> str:
    return (timezone.now() + timedelta(minutes=minutes)).isoformat()


def test_an_api_key_schedules_a_window_for_named_instances(api_client, make_instance) -> None:
    make_instance("zap-01")

    response = post(
        api_client,
        "/dashboard/manutencoes",
        {"fim": in_minutes(30), "motivo": "Troca de chip", "instancias": ["zap-01"]},
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["motivo"], body["instancias"], body["frota_inteira"], body["ativa"]) == (
        "Troca de chip",
        ["zap-01"],
        False,
        True,
    )
    assert body["retidas"] == []
    assert MaintenanceWindow.objects.get().instances.get().name == "zap-01"


def test_an_operator_schedules_a_whole_fleet_window_and_ends_it_early(as_operator, operator) -> None:
    created = post(
        as_operator,
        "/dashboard/manutencoes",
        {"fim": in_minutes(60), "motivo": "Atualização do gateway", "frota_inteira": True},
    )
    window_id = created.json()["id"]

    ended = post(as_operator, f"/dashboard/manutencoes/{window_id}/encerrar")
    again = post(as_operator, f"/dashboard/manutencoes/{window_id}/encerrar")

    assert created.json()["criada_por"] == operator.username
    assert ended.status_code == 200
    assert ended.json()["ativa"] is False and ended.json()["encerrada_em"] is not None
    assert again.status_code == 409
    assert again.json() == {"detail": "A manutenção já terminou."}


def test_a_viewer_reads_windows_but_cannot_schedule_or_end_them(as_viewer, make_instance) -> None:
    make_instance("zap-01")
    window = MaintenanceWindow.schedule(ends_at=timezone.now() + timedelta(hours=1), reason="Troca", whole_fleet=True)

    listed = as_viewer.get("/dashboard/manutencoes")
    scheduled = post(as_viewer, "/dashboard/manutencoes", {"fim": in_minutes(30), "motivo": "x", "frota_inteira": True})
    ended = post(as_viewer, f"/dashboard/manutencoes/{window.pk}/encerrar")

    assert [w["id"] for w in listed.json()] == [window.pk]
    assert (scheduled.status_code, ended.status_code) == (403, 403)
    assert scheduled.json()["detail"] == "Você não tem permissão para agendar ou encerrar manutenções."
    assert MaintenanceWindow.objects.count() == 1
    window.refresh_from_db()
    assert window.cancelled_at is None


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            {
                "fim": "2026-01-01T10:00:00-03:00",
                "inicio": "2026-01-01T11:00:00-03:00",
                "motivo": "x",
                "frota_inteira": True,
            },
            "O fim deve ser depois do início.",
        ),
        ({"fim": "2099-01-01T10:00:00-03:00", "motivo": "x"}, "Escolha ao menos uma instância ou a frota inteira."),
        (
            {"fim": "2099-01-01T10:00:00-03:00", "motivo": "x", "instancias": ["nao-existe"]},
            "Instância desconhecida: nao-existe.",
        ),
        ({"fim": "9999-12-31T23:59:59+14:00", "motivo": "x", "frota_inteira": True}, "deve estar entre 2000 e 2099."),
    ],
)
def test_bad_input_is_a_422_in_portuguese_and_changes_nothing(api_client, body, said) -> None:
    response = post(api_client, "/dashboard/manutencoes", body)

    assert response.status_code == 422
    assert said in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_an_unknown_window_is_a_404(api_client) -> None:
    response = post(api_client, "/dashboard/manutencoes/999999/encerrar")

    assert response.status_code == 404
    assert response.json() == {"detail": "Manutenção não encontrada"}
