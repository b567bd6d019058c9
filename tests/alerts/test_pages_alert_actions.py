"""Acknowledging and resolving from the alert pages: who sees the buttons, who may act, what is recorded."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client

from alerts.choices import AlertState, EventKind
from alerts.models import Notification
from tests.alerts.support import offline, row_of
from tests.support import FIRST_SEEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_name() -> str:
    """The pages print who acted; these tests read it as "ana"."""
    return "ana"


# --- Who sees the buttons -------------------------------------------------------------------------


def test_a_viewer_sees_everything_but_no_buttons(as_viewer, make_alert) -> None:
    alert = make_alert("zap-01")

    log = as_viewer.get("/alertas/").content.decode()
    detail = as_viewer.get(f"/alertas/{alert.pk}/").content.decode()

    assert f'data-alert="{alert.pk}"' in log and f'data-alert="{alert.pk}"' in detail
    assert "data-action" not in log and "data-action" not in detail


def test_an_operator_gets_buttons_on_open_alerts_only(as_operator, make_alert) -> None:
    firing = make_alert("zap-01")
    acknowledged = offline(make_alert, "zap-02", state=AlertState.ACKNOWLEDGED)
    resolved = offline(make_alert, "zap-03", state=AlertState.RESOLVED)

    page = as_operator.get("/alertas/")

    assert 'data-action="ack"' in row_of(page, firing) and 'data-action="resolve"' in row_of(page, firing)
    assert 'data-action="ack"' not in row_of(page, acknowledged)
    assert 'data-action="resolve"' in row_of(page, acknowledged)
    assert "data-action" not in row_of(page, resolved)
    assert "csrfmiddlewaretoken" in row_of(page, firing)


# --- Acknowledge and resolve --------------------------------------------------------------------


def messages_of(page) -> list[str]:
    return re.findall(r'<li class="message [^"]*">(.*?)</li>', page.content.decode(), re.S)


def test_an_operator_acknowledges_with_a_note_and_it_is_recorded_with_who_and_when(
    as_operator, operator, make_alert
) -> None:
    alert = make_alert("zap-01")
    when = FIRST_SEEN + timedelta(minutes=7)

    with time_machine.travel(when, tick=False):
        page = as_operator.post(f"/alertas/{alert.pk}/reconhecer/", {"nota": "olhando agora"}, follow=True)

    assert page.redirect_chain == [(f"/alertas/{alert.pk}/", 302)]
    assert messages_of(page) == ["Alerta reconhecido: Instância zap-01 BANIDA. Os lembretes param até a resolução."]
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by, alert.acknowledged_at) == (AlertState.ACKNOWLEDGED, operator, when)
    event = alert.events.get()
    assert (event.kind, event.actor, event.detail, event.created_at) == (
        EventKind.ACKNOWLEDGED,
        operator,
        "olhando agora",
        when,
    )
    assert 'data-actor="ana">por ana</span>' in page.content.decode()


def test_an_operator_resolves_from_the_log_and_returns_to_the_same_filters(as_operator, operator, make_alert) -> None:
    alert = make_alert("zap-01")
    back = "/alertas/?estado=firing&severidade=critical"

    response = as_operator.post(f"/alertas/{alert.pk}/resolver/", {"next": back})

    assert (response.status_code, response["Location"]) == (302, back)
    alert.refresh_from_db()
    assert (alert.state, alert.resolved_by) == (AlertState.RESOLVED, operator)
    assert alert.events.get(kind=EventKind.RESOLVED).detail == "resolvido manualmente"
    # The resolution is told on every channel of the rule, like any other.
    assert set(alert.notifications.values_list("kind", flat=True)) == {"resolved"}


def test_a_next_pointing_elsewhere_is_ignored(as_operator, make_alert) -> None:
    alert = make_alert("zap-01")

    response = as_operator.post(f"/alertas/{alert.pk}/reconhecer/", {"next": "https://evil.example.com/"})

    assert response["Location"] == f"/alertas/{alert.pk}/"


@pytest.mark.parametrize("action", ["reconhecer", "resolver"])
def test_a_viewer_who_posts_anyway_gets_403_and_nothing_changes(as_viewer, make_alert, action) -> None:
    alert = make_alert("zap-01")

    response = as_viewer.post(f"/alertas/{alert.pk}/{action}/", {"nota": "tentando"})

    assert response.status_code == 403
    assert "Sem permissão" in response.content.decode()
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING
    assert not alert.events.exists() and not alert.notifications.exists()


@pytest.mark.parametrize("action", ["reconhecer", "resolver"])
def test_an_anonymous_post_goes_to_the_login_page_and_changes_nothing(client, make_alert, action) -> None:
    alert = make_alert("zap-01")

    response = client.post(f"/alertas/{alert.pk}/{action}/")

    assert response.status_code == 302
    assert response["Location"] == f"/entrar/?next=/alertas/{alert.pk}/{action}/"
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING and not alert.events.exists()


def test_a_post_without_the_csrf_token_is_refused(operator, make_alert) -> None:
    alert = make_alert("zap-01")
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)

    response = client.post(f"/alertas/{alert.pk}/resolver/")

    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING


def test_the_actions_are_post_only(as_operator, make_alert) -> None:
    alert = make_alert("zap-01")

    assert as_operator.get(f"/alertas/{alert.pk}/resolver/").status_code == 405
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING


def test_acting_on_an_unknown_alert_is_a_404(as_operator) -> None:
    assert as_operator.post("/alertas/999999/reconhecer/").status_code == 404


def test_acknowledging_twice_says_who_did_it_and_changes_nothing(as_operator, make_alert, django_user_model) -> None:
    alert = make_alert("zap-01")
    alert.acknowledge(django_user_model.objects.create_user("bruno"))

    page = as_operator.post(f"/alertas/{alert.pk}/reconhecer/", follow=True)

    assert messages_of(page) == ["Nada mudou: o alerta “Instância zap-01 BANIDA” já estava reconhecido por bruno."]
    alert.refresh_from_db()
    assert alert.acknowledged_by.username == "bruno"
    assert alert.events.filter(kind=EventKind.ACKNOWLEDGED).count() == 1


@pytest.mark.parametrize("action", ["reconhecer", "resolver"])
def test_acting_on_a_resolved_alert_changes_nothing(as_operator, make_alert, action) -> None:
    alert = make_alert("zap-01")
    alert.resolve(None)
    before = (alert.events.count(), Notification.objects.count())

    page = as_operator.post(f"/alertas/{alert.pk}/{action}/", follow=True)

    assert messages_of(page) == ["Nada mudou: o alerta “Instância zap-01 BANIDA” já estava resolvido."]
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.resolved_by is None
    assert (alert.events.count(), Notification.objects.count()) == before


def test_a_note_too_long_is_refused_on_the_page(as_operator, make_alert) -> None:
    alert = make_alert("zap-01")

    page = as_operator.post(f"/alertas/{alert.pk}/reconhecer/", {"nota": "x" * 501})

    assert page.status_code == 400
    assert 'data-error="nota"' in page.content.decode()
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING and not alert.events.exists()
