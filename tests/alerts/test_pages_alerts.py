"""The alert pages: the log with its filters and pages, and one alert with its timeline."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine

from alerts.channels import render
from alerts.choices import AlertState, Rule, Severity
from alerts.delivery import deliver_due
from alerts.models import Alert
from alerts.rules import evaluate
from instances.models import Status
from tests.alerts.support import offline, row_of
from tests.support import FIRST_SEEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_name() -> str:
    """The pages print who acted; these tests read it as "ana"."""
    return "ana"


def shown_ids(page) -> list[int]:
    """The alerts of a page in the order shown (each row carries ``data-alert``)."""
    return [int(i) for i in re.findall(r'<tr class="alert-row[^"]*" data-alert="(\d+)"', page.content.decode())]


# --- The log ------------------------------------------------------------------------------------


def test_the_log_shows_open_alerts_first_then_the_newest(as_viewer, make_alert) -> None:
    def at(minutes: int):
        return FIRST_SEEN + timedelta(minutes=minutes)

    old_firing = offline(make_alert, "zap-01", first_seen_at=at(0))
    new_firing = offline(make_alert, "zap-02", first_seen_at=at(10))
    acknowledged = offline(make_alert, "zap-03", first_seen_at=at(20), state=AlertState.ACKNOWLEDGED)
    resolved_newest = offline(make_alert, "zap-04", first_seen_at=at(30), state=AlertState.RESOLVED)
    resolved_old = offline(make_alert, "zap-05", first_seen_at=at(-60), state=AlertState.RESOLVED)

    page = as_viewer.get("/alertas/")

    assert page.status_code == 200
    assert shown_ids(page) == [
        new_firing.pk,
        old_firing.pk,
        acknowledged.pk,
        resolved_newest.pk,
        resolved_old.pk,
    ]


def test_a_row_tells_severity_title_instance_state_times_occurrences_and_who_acknowledged(
    as_viewer, make_alert, operator
) -> None:
    ban = make_alert("zap-01", occurrences=7, last_seen_at=FIRST_SEEN + timedelta(hours=20))
    ban.acknowledge(operator, at=FIRST_SEEN + timedelta(hours=20, minutes=2))

    with time_machine.travel(FIRST_SEEN + timedelta(hours=20, minutes=5), tick=False):
        row = row_of(as_viewer.get("/alertas/"), ban)

    assert "🚨 Crítico" in row
    assert f'href="/alertas/{ban.pk}/">Instância zap-01 BANIDA</a>' in row
    assert 'href="/instancias/zap-01/">zap-01</a>' in row
    assert "🔕 Reconhecido" in row
    assert "10/03 14:05" in row  # first seen, in São Paulo time: older than a few hours reads as a date
    assert "há 5 min" in row  # last seen
    assert '<td data-label="Ocorrências" class="num">7</td>' in row
    assert "ana" in row and "há 3 min" in row


def test_a_fleet_alert_is_shown_as_about_the_fleet(as_viewer, make_alert) -> None:
    alert = make_alert(None, rule=Rule.ALL_OFFLINE, title="SISTEMA CRÍTICO: todas as instâncias offline")

    row = row_of(as_viewer.get("/alertas/"), alert)

    assert "frota" in row and "/instancias/" not in row


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("estado=acknowledged", ["zap-02"]),
        ("severidade=warning", ["zap-03"]),
        ("regra=instance_banned", ["zap-01"]),
        ("instancia=zap-03", ["zap-03"]),
        ("estado=firing&severidade=critical", ["zap-01"]),
    ],
)
def test_the_log_filters_with_the_names_of_the_api(as_viewer, make_alert, query, expected) -> None:
    make_alert("zap-01")
    offline(make_alert, "zap-02", state=AlertState.ACKNOWLEDGED)
    make_alert("zap-03", rule=Rule.CAPACITY_HIGH, severity=Severity.WARNING, title="Capacidade alta: zap-03")

    page = as_viewer.get(f"/alertas/?{query}")

    assert page.status_code == 200
    shown = Alert.objects.in_bulk(shown_ids(page))
    assert [shown[pk].instance.name for pk in shown_ids(page)] == expected


def test_an_empty_log_says_so(as_viewer, make_alert) -> None:
    make_alert("zap-01")

    page = as_viewer.get("/alertas/?estado=resolved")

    assert shown_ids(page) == []
    assert "Nenhum alerta com esses filtros." in page.content.decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("estado=pegando-fogo", "estado"),
        ("severidade=1", "severidade"),
        ("regra=%E2%80%94", "regra"),  # a NUL never gets here: the address itself is refused
        ("instancia=zap-que-nao-existe", "instancia"),
    ],
)
def test_a_bad_filter_is_an_error_on_the_page_not_a_500(as_viewer, make_alert, query, field) -> None:
    alert = make_alert("zap-01")

    page = as_viewer.get(f"/alertas/?{query}")

    assert page.status_code == 400
    html = page.content.decode()
    assert f'data-error="{field}"' in html
    assert "válida" in html or "desconhecida" in html  # pt-BR
    assert shown_ids(page) == [alert.pk]  # the bad filter is ignored, not half-applied


def test_the_log_is_paginated_and_its_links_keep_the_filters(as_viewer, make_alert) -> None:
    for i in range(55):
        offline(make_alert, f"zap-{i:02d}", first_seen_at=FIRST_SEEN + timedelta(minutes=i))

    first = as_viewer.get("/alertas/?severidade=error")
    second = as_viewer.get("/alertas/?severidade=error&pagina=2")
    beyond = as_viewer.get("/alertas/?severidade=error&pagina=999")
    nonsense = as_viewer.get("/alertas/?pagina=abc")

    assert len(shown_ids(first)) == 50 and len(shown_ids(second)) == 5
    assert set(shown_ids(first)).isdisjoint(shown_ids(second))
    assert 'href="?severidade=error&amp;pagina=2"' in first.content.decode()
    assert '<option value="error" selected>Erro</option>' in first.content.decode()  # the filter stays chosen
    assert "55 alertas · página 1 de 2" in first.content.decode()
    assert shown_ids(beyond) == shown_ids(second)
    assert shown_ids(nonsense) == shown_ids(first)


def test_the_log_makes_the_same_number_of_queries_for_5_or_60_alerts(
    as_operator, make_alert, django_user_model, django_assert_max_num_queries
) -> None:
    def make(count: int) -> None:
        for i in range(count):
            alert = offline(make_alert, f"zap-{Alert.objects.count():03d}")
            if i % 2:
                alert.acknowledge(django_user_model.objects.create_user(f"op-{alert.pk}"))

    make(5)
    with django_assert_max_num_queries(1000) as few:
        as_operator.get("/alertas/")
    # Read now: the next request empties the connection's query log.
    queries_for_5 = len(few.captured_queries)
    make(55)

    with django_assert_max_num_queries(queries_for_5):
        page = as_operator.get("/alertas/")

    assert queries_for_5 <= 10  # session, user, permissions, count, page, open counts, instances
    assert len(shown_ids(page)) == 50
    assert page.content.decode().count('data-action="resolve"') == 50


# --- One alert ------------------------------------------------------------------------------------


def test_the_alert_page_tells_the_whole_story_in_time_order(client, operator, make_instance, fake_slack) -> None:
    make_instance("zap-02")  # someone online, so this is one ban and not "all offline"
    make_instance("zap-01", status=Status.BANNED, disconnection_reason="conta suspensa (403)")
    client.force_login(operator)
    t0 = FIRST_SEEN

    evaluate(t0)  # opens the ban: Slack, email (not configured here) and the log
    alert = Alert.objects.get(rule=Rule.INSTANCE_BANNED)
    fake_slack.fail_with(503, times=1)
    deliver_due(t0 + timedelta(seconds=5), sleep=lambda s: None)  # the log goes out, Slack fails
    deliver_due(t0 + timedelta(minutes=2), sleep=lambda s: None)  # Slack goes out on the retry
    with time_machine.travel(t0 + timedelta(minutes=3), tick=False):
        client.post(f"/alertas/{alert.pk}/reconhecer/", {"nota": "trocando o chip"})
    with time_machine.travel(t0 + timedelta(minutes=30), tick=False):
        client.post(f"/alertas/{alert.pk}/resolver/", {"nota": "número novo ativo"})
        page = client.get(f"/alertas/{alert.pk}/")

    html = page.content.decode()
    timeline = re.search(rf'<ol class="timeline" id="alert-timeline-{alert.pk}">.*?</ol>', html, re.S).group(0)
    entries = re.findall(r'data-event="(\w+)"(?: data-notification="\d+"\s+data-channel="(\w+)")?', timeline)
    assert entries == [
        ("opened", ""),
        ("notification", "slack"),
        ("notification", "email"),
        ("notification", "log"),
        ("notified", ""),  # the log, at t0+5s
        ("delivery_failed", ""),  # Slack 503
        ("notified", ""),  # Slack, on the retry
        ("acknowledged", ""),
        ("resolved", ""),
        ("notification", "slack"),  # the resolution, queued for every channel
        ("notification", "email"),
        ("notification", "log"),
    ]
    times = re.findall(r'<time datetime="([^"]+)">', timeline)
    assert times == sorted(times)
    assert "Enviada · 2 tentativas · enviada às 10/03 14:07:00" in timeline  # Slack's firing: failed once
    assert "Último erro: Slack" in timeline and "503" in timeline
    assert "Não enviada (canal não configurado)" in timeline  # email without recipients
    assert 'data-actor="ana">por ana</span>' in timeline
    assert "trocando o chip" in timeline and "número novo ativo" in timeline
    assert "por ana em 10/03/2025 14:08" in html and "por ana em 10/03/2025 14:35" in html


def test_at_the_same_instant_the_timeline_reads_opened_queued_then_delivered(as_viewer, make_instance) -> None:
    make_instance("zap-02")
    make_instance("zap-01", status=Status.BANNED)
    evaluate(FIRST_SEEN)
    deliver_due(FIRST_SEEN, sleep=lambda s: None)  # the log goes out in the same second
    alert = Alert.objects.get(rule=Rule.INSTANCE_BANNED)

    html = as_viewer.get(f"/alertas/{alert.pk}/").content.decode()

    assert re.findall(r'data-event="(\w+)"', html) == [
        "opened",
        "notification",
        "notification",
        "notification",
        "notified",
    ]


def test_an_unknown_alert_is_a_404(as_viewer) -> None:
    assert as_viewer.get("/alertas/999999/").status_code == 404


def test_the_links_in_slack_and_email_open_the_alert_pages(as_viewer, make_alert, settings) -> None:
    alert = make_alert("zap-01")

    for url in (render.alert_url(alert), render.alerts_url()):
        assert url.startswith(settings.SITE_URL)
        assert as_viewer.get(url.removeprefix(settings.SITE_URL)).status_code == 200
