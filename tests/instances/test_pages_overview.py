"""The fleet overview at /: who may open the fleet pages, the banner, the rows, the partial and its cost."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.choices import AlertState, Rule, Severity
from instances.models import CheckCycle, Instance, OperatorAction, Status
from instances.templatetags.fleet import ago, duration
from tests.instances.support import (
    NOW,
    attr,
    find,
    find_all,
    text,
    walk,
)

# --- The cast ------------------------------------------------------------------------------------


@pytest.fixture
def fleet(make_instance, make_alert) -> dict[str, Instance]:
    """One instance per status, each read at NOW; zap-hot sent 12 of 20 this hour and 60 of 100 today;
    zap-down has 2 open alerts."""
    with time_machine.travel(NOW - timedelta(days=10), tick=False):
        fleet = {
            name: make_instance(name, status=status, last_read_at=NOW)
            for name, status in [
                ("zap-hot", Status.CONNECTED),
                ("zap-idle", Status.CONNECTED),
                ("zap-down", Status.DISCONNECTED),
                ("zap-ban", Status.BANNED),
                ("zap-wait", Status.CONNECTING),
                ("zap-odd", Status.UNKNOWN),
            ]
        }
    fleet["zap-hot"].record_sent(count=48, at=NOW - timedelta(hours=3))
    fleet["zap-hot"].record_sent(count=12, at=NOW - timedelta(minutes=10))
    make_alert("zap-down", rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, title="Instância zap-down offline")
    make_alert("zap-down", rule=Rule.CONSECUTIVE_FAILURES, severity=Severity.ERROR, title="Falhas seguidas")
    make_alert("zap-hot", rule=Rule.CAPACITY_HIGH, state=AlertState.RESOLVED, title="Capacidade alta: zap-hot")
    CheckCycle.objects.create(started_at=NOW - timedelta(seconds=50), finished_at=NOW - timedelta(seconds=45))
    return fleet


# --- Who may see and do what ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/"),
        ("get", "/frota/parcial"),
        ("get", "/instancias/zap-01/"),
        ("get", "/instancias/zap-01/parcial"),
        ("get", "/instancias/zap-01/estado"),
        ("post", "/instancias/zap-01/reconectar"),
    ],
)
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, make_instance, method, url) -> None:
    make_instance("zap-01", status=Status.DISCONNECTED)

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"] == f"/entrar/?next={url}"
    assert not OperatorAction.objects.exists()


# --- The overview ------------------------------------------------------------------------------------


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_overview_shows_the_fleet_in_numbers(as_viewer, fleet) -> None:
    page = as_viewer.get("/").content

    banner = find(page, "id", "fleet-status")
    assert attr(banner, "data-status") == "degraded"
    assert text(banner) == "Degradada 2 de 6 online"
    cards = {attr(card, "data-card"): text(card) for card in find_all(page, "data-card")}
    assert cards == {
        "online": "2 online",
        "offline": "3 offline",
        "banned": "1 banidas",
        "capacity": "30.0% capacidade usada hoje",  # of the two online instances' 200
        "sent-today": "60 mensagens enviadas hoje (de 200)",
    }
    assert text(find(page, "id", "updated-at")) == "Atualizado às 14:30:00"
    assert not find_all(page, "id", "monitor-stale")


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_each_row_shows_status_in_words_usage_against_capacity_and_alerts(as_viewer, fleet) -> None:
    page = as_viewer.get("/").content

    rows = {attr(row, "data-instance"): row for row in find_all(page, "data-instance")}
    # Problems first, the worst first (banned, disconnected, unknown, connecting), then by name.
    assert list(rows) == ["zap-ban", "zap-down", "zap-odd", "zap-wait", "zap-hot", "zap-idle"]
    hot = [text(cell) for cell in rows["zap-hot"].children]
    # 60 since 11:00: at that pace its 100 a day are gone at 16:50.
    assert hot == [
        "zap-hot",
        "🟢 Conectada",
        "5511999990001",
        "12/20",
        "60/100 limite diário às 16:50",
        "60.0%",
        "há 10 min",
        "",
    ]
    assert [text(cell) for cell in rows["zap-ban"].children][1] == "⛔ Banida"
    assert [text(cell) for cell in rows["zap-odd"].children][1] == "❓ Desconhecida"
    assert [text(cell) for cell in rows["zap-down"].children][6] == "—"
    mark = find(page, "class", "alert-mark")
    assert text(mark) == "⚠ 2 alertas"
    assert attr(mark, "href") == "/alertas/?instancia=zap-down"
    assert len(find_all(page, "class", "alert-mark")) == 1  # zap-hot's alert is resolved
    assert attr(find(page, "href", "/instancias/zap-hot/"), "href") == "/instancias/zap-hot/"
    fills = [attr(el, "value") for el in walk(rows["zap-hot"]) if attr(el, "class", "").startswith("fill")]
    assert fills == ["60", "60"]  # of the meters' max 100


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_stale_reading_shows_unknown_since_when_and_counts_neither_online_nor_banned(
    as_viewer, make_instance
) -> None:
    make_instance("zap-late", status=Status.CONNECTED, last_read_at=NOW - timedelta(minutes=10))
    make_instance("zap-old", status=Status.BANNED, last_read_at=NOW - timedelta(days=1, hours=5))
    make_instance("zap-never", status=Status.CONNECTED, last_read_at=None)
    make_instance("zap-ok", status=Status.CONNECTED)
    make_instance("zap-gone", status=Status.DISCONNECTED, status_reason="o gateway não lista mais esta instância")

    page = as_viewer.get("/").content

    rows = {attr(row, "data-instance"): row for row in find_all(page, "data-instance")}
    status = {name: (attr(row, "data-status"), text(row.children[1])) for name, row in rows.items()}
    assert status == {
        "zap-gone": ("disconnected", "🔴 Desconectada o gateway não lista mais esta instância"),
        "zap-late": ("unknown", "❓ Desconhecida sem leitura desde 14:20"),
        "zap-never": ("unknown", "❓ Desconhecida sem leitura do gateway"),
        "zap-ok": ("connected", "🟢 Conectada"),
        "zap-old": ("unknown", "❓ Desconhecida sem leitura desde 24/11 09:30"),
    }
    cards = {attr(card, "data-card"): text(card) for card in find_all(page, "data-card")}
    assert (cards["online"], cards["offline"], cards["banned"]) == ("1 online", "4 offline", "0 banidas")
    assert cards["sent-today"] == "0 mensagens enviadas hoje (de 100)"  # only zap-ok can send
    assert text(find(page, "id", "fleet-status")) == "Degradada 1 de 5 online · 3 sem leitura"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("statuses", "sent_today", "status", "banner"),
    [
        ([Status.CONNECTED, Status.CONNECTED], 0, "healthy", "Saudável 2 de 2 online"),
        ([Status.CONNECTED, Status.CONNECTED], 170, "warning", "Atenção 2 de 2 online · capacidade usada hoje 85.0%"),
        ([Status.DISCONNECTED, Status.BANNED], 0, "critical", "Crítica 0 de 2 online"),
    ],
)
def test_the_banner_uses_the_same_rules_and_words_as_the_api(
    as_viewer, make_instance, statuses, sent_today, status, banner
) -> None:
    first, _second = (make_instance(f"zap-{n}", status=s) for n, s in enumerate(statuses))
    if sent_today:
        first.record_sent(count=sent_today)

    found = find(as_viewer.get("/").content, "id", "fleet-status")

    assert attr(found, "data-status") == status
    assert text(found) == banner
    assert as_viewer.get("/dashboard/instances").json()["status"] == status


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(3, "agora"), (40, "há 40 s"), (180, "há 3 min"), (2 * 3600 + 59, "há 2 h"), (3 * 86400, "há 3 d"), (-5, "agora")],
)
def test_ago_says_how_long_ago_in_portuguese(seconds, expected) -> None:
    assert ago(NOW - timedelta(seconds=seconds), NOW) == expected


def test_ago_shows_a_dash_when_there_is_nothing() -> None:
    assert ago(None, NOW) == "—"


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(seconds=40), "40 s"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=3, minutes=5), "3 h 5 min"),
        (timedelta(hours=15), "15 h"),
        (timedelta(days=2, hours=4), "2 d 4 h"),
    ],
)
def test_durations_read_as_words(span, expected) -> None:
    assert duration(span) == expected


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_partial_is_just_the_refreshing_part_and_never_cached(as_viewer, fleet) -> None:
    response = as_viewer.get("/frota/parcial")

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and "Julia Monitor" not in body
    assert 'data-updated="14:30:00"' in body
    assert text(find(response.content, "id", "fleet-status")) == "Degradada 2 de 6 online"
    assert len(find_all(response.content, "data-instance")) == 6
    assert "no-cache" in response["Cache-Control"]
    assert attr(find(as_viewer.get("/").content, "id", "fleet-live"), "data-refresh-url") == "/frota/parcial"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("finished_minutes_ago", "notice"),
    [
        (None, "Monitor parado: nenhuma verificação registrada."),
        (7, "Monitor parado: última verificação há 7 min."),
    ],
)
def test_it_says_when_the_monitor_itself_has_stopped(as_viewer, make_instance, finished_minutes_ago, notice) -> None:
    make_instance("zap-01")
    if finished_minutes_ago is not None:
        at = NOW - timedelta(minutes=finished_minutes_ago)
        CheckCycle.objects.create(started_at=at - timedelta(seconds=2), finished_at=at)

    with time_machine.travel(NOW, tick=False):
        found = find(as_viewer.get("/").content, "id", "monitor-stale")

    assert text(found).startswith(notice)


def _add_instances(first: int, last: int) -> None:
    """Instances ``first``..``last - 1`` with usage, an open alert on every other one."""
    from alerts.models import Alert

    new = Instance.objects.bulk_create(
        Instance(
            name=f"q-{n:03}",
            status=Status.CONNECTED,
            capacity_per_hour=20,
            capacity_per_day=100,
            last_read_at=timezone.now(),
        )
        for n in range(first, last)
    )
    for instance in Instance.objects.filter(name__in=[i.name for i in new]):
        instance.record_sent(count=3)
        if instance.name[-1] in "02468":
            Alert.objects.create(
                instance=instance,
                rule=Rule.INSTANCE_OFFLINE,
                severity=Severity.ERROR,
                key=f"k{instance.pk}",
                title="x",
                message="x",
            )


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/frota/parcial"])
def test_the_overview_costs_the_same_queries_for_5_or_60_instances(
    as_viewer, url, django_assert_max_num_queries
) -> None:
    _add_instances(0, 5)
    with CaptureQueriesContext(connection) as small:
        as_viewer.get(url)
    _add_instances(5, 60)

    with django_assert_max_num_queries(len(small)):
        response = as_viewer.get(url)

    assert len(small) <= 6  # session, user, fleet, open alerts per instance, maintenance windows, last cycle
    assert len(find_all(response.content, "data-instance")) == 60
    assert len(find_all(response.content, "class", "alert-mark")) == 30
