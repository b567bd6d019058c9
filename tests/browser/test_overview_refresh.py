"""The overview in a real browser applies a diff refresh: the changed row moves and changes, the summary
follows, every other row is the same element as before, focus stays, and the policy is never broken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from instances.models import CheckCycle, Instance, Status
from julia_monitor.lib.text import ago
from tests.browser.test_content_security_policy import RECORD_VIOLATIONS

pytestmark = pytest.mark.django_db(transaction=True)

# Every row on screen gets a mark kept on its element: a row still marked later is the same element.
MARK_ROWS = "document.querySelectorAll('#fleet-table tbody tr').forEach(function (tr) { tr.__before = true; })"
UNMARKED = (
    "Array.from(document.querySelectorAll('#fleet-table tbody tr'))"
    ".filter(function (tr) { return !tr.__before; }).map(function (tr) { return tr.dataset.instance; })"
)
ORDER = (
    "Array.from(document.querySelectorAll('#fleet-table tbody tr')).map(function (tr) { return tr.dataset.instance; })"
)


@pytest.fixture
def fleet(make_instance) -> list[Instance]:
    now = timezone.now()
    CheckCycle.objects.create(started_at=now - timedelta(seconds=5), finished_at=now)
    return [make_instance(f"julia-{n:02}", phone_number=f"551199999{n:04}") for n in range(30)]


def card(page: Any, name: str) -> str:
    return page.inner_text(f"[data-card={name}] .value").strip()


def test_the_overview_applies_only_the_changed_row(page: Any, log_in, fleet, settings) -> None:
    settings.OVERVIEW_REFRESH_SECONDS = 1
    page.add_init_script(RECORD_VIOLATIONS)
    refreshes: list[str] = []
    page.on("request", lambda request: "/frota/parcial" in request.url and refreshes.append(request.url))
    log_in("operadora")
    page.wait_for_selector("tr[data-instance='julia-17'][data-status='connected']")
    assert card(page, "online") == "30"
    page.evaluate(MARK_ROWS)
    page.focus("tr[data-instance='julia-05'] a")
    page.evaluate("window.__sameDocument = true")

    fleet[17].record_status(Status.BANNED, "conta suspensa (403)")

    page.wait_for_selector("tr[data-instance='julia-17'][data-status='banned']", timeout=8_000)
    page.wait_for_function("document.querySelector('[data-card=online] .value').textContent.trim() === '29'")
    order = page.evaluate(ORDER)
    assert order[0] == "julia-17"  # a problem goes first
    assert order[1:] == [f"julia-{n:02}" for n in range(30) if n != 17]
    assert page.evaluate(UNMARKED) == ["julia-17"]  # every other row is the element it was
    assert "Banida" in page.inner_text("tr[data-instance='julia-17']")
    assert card(page, "banned") == "1"
    assert "Com problema: 1" in page.inner_text("#fleet-status-counts")
    assert page.evaluate("document.activeElement.textContent") == "julia-05"
    assert page.evaluate("window.__sameDocument") is True
    assert "Atualizado às" in page.inner_text("#updated-at")
    assert any("versao=" in url for url in refreshes)
    assert page.evaluate("window.__cspViolations") == []


def test_a_row_gone_and_a_row_back_are_applied_in_place(page: Any, log_in, fleet, settings) -> None:
    settings.OVERVIEW_REFRESH_SECONDS = 1
    log_in("operadora")
    page.wait_for_selector("tr[data-instance='julia-03']")
    page.evaluate(MARK_ROWS)

    Instance.objects.filter(name="julia-03").update(is_active=False)
    page.wait_for_selector("tr[data-instance='julia-03']", state="detached", timeout=8_000)
    Instance.objects.filter(name="julia-03").update(is_active=True)
    page.wait_for_selector("tr[data-instance='julia-03']", timeout=8_000)

    assert page.evaluate(ORDER) == [f"julia-{n:02}" for n in range(30)]
    assert page.evaluate(UNMARKED) == ["julia-03"]


def test_when_the_portal_cannot_be_reached_the_last_rows_stay_and_the_page_says_so(
    page: Any, log_in, fleet, settings
) -> None:
    settings.OVERVIEW_REFRESH_SECONDS = 1
    log_in("operadora")
    page.wait_for_selector("#fleet-table")
    updated = page.inner_text("#updated-at").removeprefix("Atualizado às ")

    page.route("**/frota/parcial*", lambda route: route.abort())

    page.wait_for_selector("#updated-at[data-state='offline']", timeout=8_000)
    assert page.inner_text("#updated-at").endswith(f"Sem conexão com o portal desde {updated}")
    assert page.locator("#fleet-table tbody tr").count() == 30


AGES = [
    timedelta(seconds=3),
    timedelta(seconds=40),
    timedelta(minutes=3, seconds=5),
    timedelta(hours=2),
    timedelta(hours=2, minutes=5),
    timedelta(days=3),
    timedelta(days=3, hours=4, minutes=2),
]
AGES_ON_SCREEN = """Array.from(document.querySelectorAll('#fleet-table td[data-at]')).map(function (td) {
  return [Number(td.dataset.at), td.textContent, Number(document.querySelector('.live-body').dataset.now)];
})"""
FORGET_AGES = "document.querySelectorAll('td[data-at]').forEach(function (td) { td.textContent = '?'; })"
AGES_SAID = (
    "Array.from(document.querySelectorAll('td[data-at]')).every(function (td) { return td.textContent !== '?'; })"
)


def test_the_page_says_each_last_message_age_as_the_server_does(page: Any, log_in, fleet, settings) -> None:
    """A row is not sent when only its age in words changed: the page says the age itself, in the same words."""
    now = timezone.now()
    for instance, age in zip(fleet, AGES, strict=False):
        Instance.objects.filter(pk=instance.pk).update(last_message_at=now - age)
    settings.OVERVIEW_REFRESH_SECONDS = 1
    log_in("operadora")
    page.wait_for_selector("#fleet-table td[data-at]")
    page.evaluate(FORGET_AGES)

    for _ in range(40):  # wait_for_function would evaluate a string: the page's CSP forbids that
        if page.evaluate(AGES_SAID):
            break
        page.wait_for_timeout(200)

    seen = page.evaluate(AGES_ON_SCREEN)
    assert len(seen) == len(AGES)
    for at, words, server_now in seen:
        assert words == ago(moment(at), moment(server_now)), at


def moment(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def test_a_forecast_that_alone_changed_is_patched_into_its_row(page: Any, log_in, fleet, settings) -> None:
    now = timezone.now()
    fleet[4].record_sent(count=48, at=now - timedelta(hours=3))
    fleet[4].record_sent(count=12, at=now - timedelta(minutes=10))
    settings.OVERVIEW_REFRESH_SECONDS = 1
    page.add_init_script(RECORD_VIOLATIONS)
    log_in("operadora")
    forecast = "tr[data-instance='julia-04'] [data-field='forecast']"
    page.wait_for_selector(forecast)
    assert page.inner_text(forecast).startswith("limite ")
    page.evaluate(MARK_ROWS)

    settings.FORECAST_MIN_MESSAGES = 1000  # too few messages now: no forecast, nothing else changes
    page.wait_for_selector(forecast, state="detached", timeout=8_000)
    settings.FORECAST_MIN_MESSAGES = 10
    page.wait_for_selector(forecast, timeout=8_000)

    assert page.inner_text(forecast).startswith("limite ")
    assert page.evaluate(UNMARKED) == []  # the row is the element it was: only its forecast was sent
    assert page.evaluate("window.__cspViolations") == []
