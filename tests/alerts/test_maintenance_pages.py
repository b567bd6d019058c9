"""Maintenance on the pages: scheduled and ended on the instance page, marked on the overview, what was held."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from alerts.choices import NotificationState
from alerts.maintenance import MaintenanceWindow
from alerts.models import Notification
from alerts.rules import evaluate
from instances.models import Status
from tests.alerts.support import T0

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:  # 14:00 in São Paulo
        yield traveller


@pytest.fixture
def zap(make_instance):
    return make_instance("zap-01", status=Status.CONNECTED)


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_an_operator_schedules_a_window_from_the_instance_page_and_the_page_shows_it(
    as_operator, operator, zap
) -> None:
    response = as_operator.post(
        "/instancias/zap-01/manutencao/", {"inicio": "", "fim": "2025-03-10T15:30", "motivo": "Troca de chip"}
    )

    assert response.status_code == 302
    window = MaintenanceWindow.objects.get()
    assert (window.starts_at, window.reason, window.created_by) == (timezone.now(), "Troca de chip", operator)
    assert list(window.instances.all()) == [zap]
    html = page(as_operator, "/instancias/zap-01/")
    assert "Manutenção agendada: Troca de chip, em manutenção até 15:30." in html
    assert "🔧 em manutenção até 15:30" in html


def test_an_end_before_the_start_is_a_form_error_and_schedules_nothing(as_operator, zap) -> None:
    response = as_operator.post(
        "/instancias/zap-01/manutencao/",
        {"inicio": "2025-03-10T16:00", "fim": "2025-03-10T15:00", "motivo": "Troca de chip"},
        follow=True,
    )

    assert "Manutenção não agendada: O fim deve ser depois do início." in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_a_viewer_sees_no_form_and_cannot_schedule_or_end(as_viewer, zap) -> None:
    window = MaintenanceWindow.schedule(ends_at=timezone.now() + timedelta(hours=1), reason="Troca", instances=[zap])

    html = page(as_viewer, "/instancias/zap-01/")
    scheduled = as_viewer.post("/instancias/zap-01/manutencao/", {"fim": "2025-03-10T15:30", "motivo": "x"})
    ended = as_viewer.post(f"/manutencoes/{window.pk}/encerrar/")

    assert 'id="maintenance-form"' not in html and "🔧 em manutenção até 15:00" in html
    assert (scheduled.status_code, ended.status_code) == (403, 403)
    assert MaintenanceWindow.objects.count() == 1
    window.refresh_from_db()
    assert window.cancelled_at is None


def test_an_operator_ends_a_window_early_from_the_instance_page(as_operator, zap) -> None:
    window = MaintenanceWindow.schedule(ends_at=timezone.now() + timedelta(hours=1), reason="Troca", instances=[zap])

    response = as_operator.post(f"/manutencoes/{window.pk}/encerrar/", {"voltar": "instancia"}, follow=True)

    html = response.content.decode()
    assert "Manutenção &#x27;Troca&#x27; encerrada" in html
    assert "🔧 em manutenção" not in html
    window.refresh_from_db()
    assert window.cancelled_at == timezone.now()


def test_the_overview_marks_only_the_covered_instances(as_viewer, make_instance, zap) -> None:
    make_instance("zap-02", status=Status.CONNECTED)
    MaintenanceWindow.schedule(ends_at=timezone.now() + timedelta(minutes=90), reason="Troca", instances=[zap])

    html = page(as_viewer, "/")

    zap_01 = html[html.index('data-instance="zap-01"') :].split("</tr>")[0]
    zap_02 = html[html.index('data-instance="zap-02"') :].split("</tr>")[0]
    assert "🔧 em manutenção até 15:30" in zap_01
    assert "manutenção" not in zap_02


def test_the_window_page_and_the_alert_log_show_what_was_held(as_viewer, settings, make_instance) -> None:
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/services/T/B/X"
    long_ago = timezone.now() - timedelta(hours=1)
    zap = make_instance("zap-01", status=Status.CONNECTED, status_since=long_ago, last_seen_connected_at=long_ago)
    make_instance("zap-02", status=Status.CONNECTED, status_since=long_ago, last_seen_connected_at=long_ago)
    window = MaintenanceWindow.schedule(ends_at=timezone.now() + timedelta(minutes=30), reason="Troca", instances=[zap])
    zap.record_status(Status.DISCONNECTED, "", at=timezone.now() - timedelta(minutes=2))
    evaluate()
    held = Notification.objects.get(state=NotificationState.HELD)

    window_page = page(as_viewer, f"/manutencoes/{window.pk}/")
    log = page(as_viewer, "/alertas/")
    detail = page(as_viewer, f"/alertas/{held.alert_id}/")

    assert f'data-held-notification="{held.pk}"' in window_page
    assert "Notificações retidas (1)" in window_page
    assert "🔧 retido pela manutenção" in log
    assert "retida pela manutenção &#x27;Troca&#x27; (até 10/03 14:30): não enviada" in detail
    assert 'data-held="1"' in page(as_viewer, "/manutencoes/")
