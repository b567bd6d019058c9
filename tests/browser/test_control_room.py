"""The control room in a real browser: log in, read the fleet, watch it change, act on an alert."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.choices import AlertState, Rule, Severity
from alerts.models import Alert
from instances.models import CheckCycle, Instance, Status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fleet(make_instance) -> dict[str, Instance]:
    """Four numbers: two connected (one busy), one disconnected, one banned; a recent cycle."""
    now = timezone.now()
    seen = now - timedelta(hours=2)
    fleet = {
        "julia-sp-01": make_instance("julia-sp-01", status=Status.CONNECTED, last_seen_connected_at=now),
        "julia-sp-02": make_instance("julia-sp-02", status=Status.CONNECTED, last_seen_connected_at=now),
        "julia-rj-01": make_instance("julia-rj-01", status=Status.DISCONNECTED, last_seen_connected_at=seen),
        "julia-ce-01": make_instance("julia-ce-01", status=Status.BANNED, last_seen_connected_at=seen),
    }
    fleet["julia-sp-01"].record_sent(count=12)
    CheckCycle.objects.create(started_at=now - timedelta(seconds=5), finished_at=now)
    return fleet


@pytest.fixture
def offline_alert(fleet) -> Alert:
    instance = fleet["julia-rj-01"]
    alert = Alert.objects.create(
        rule=Rule.INSTANCE_OFFLINE,
        severity=Severity.ERROR,
        instance=instance,
        key=f"{Rule.INSTANCE_OFFLINE}:{instance.pk}",
        title="Instância julia-rj-01 offline",
        message="julia-rj-01 está desconectada desde 10:00.",
    )
    alert.events.create(kind="opened", detail=alert.message)
    return alert


def card(page, name: str) -> str:
    return page.inner_text(f"[data-card={name}] .value").strip()


def test_an_operator_logs_in_and_reads_the_fleet(page, log_in, live_server, fleet, offline_alert) -> None:
    page.goto("/")
    assert "/entrar/" in page.url  # anonymous: sent to the login page first
    log_in("operadora")

    page.wait_for_selector("#fleet-status")
    assert page.url == f"{live_server.url}/"
    assert page.get_attribute("#fleet-status", "data-status") == "healthy"
    assert (card(page, "online"), card(page, "offline"), card(page, "banned")) == ("2", "1", "1")
    assert card(page, "sent-today") == "12"
    busy = page.locator("tr[data-instance='julia-sp-01']")
    assert "12/20" in busy.locator("[data-col=hour]").inner_text()
    assert "Conectada" in busy.inner_text()
    banned = page.locator("tr[data-instance='julia-ce-01']")
    assert "Banida" in banned.inner_text()  # the word, not only a colour
    assert page.locator("tr[data-instance='julia-rj-01'] .alert-mark").count() == 1


def test_the_overview_refreshes_in_place_after_a_state_change(page, log_in, fleet, settings) -> None:
    settings.OVERVIEW_REFRESH_SECONDS = 1
    log_in("operadora")
    page.wait_for_selector("tr[data-instance='julia-sp-02'][data-status='connected']")
    page.evaluate("window.__sameDocument = true")

    fleet["julia-sp-02"].record_status(Status.DISCONNECTED, "conexão encerrada (428)")

    page.wait_for_selector("tr[data-instance='julia-sp-02'][data-status='disconnected']", timeout=8_000)
    assert page.evaluate("window.__sameDocument") is True  # swapped in place, no reload
    assert card(page, "online") == "1"
    assert "Atualizado às" in page.inner_text("#updated-at")


def test_an_instance_page_shows_usage_and_history(page, log_in, fleet) -> None:
    fleet["julia-sp-01"].record_status(Status.CONNECTING, "reconectando")
    fleet["julia-sp-01"].record_status(Status.CONNECTED)
    log_in("operadora")

    page.click("tr[data-instance='julia-sp-01'] a:text('julia-sp-01')")

    page.wait_for_selector("[data-chart=usage-24h]")
    assert "/instancias/julia-sp-01/" in page.url
    bars = page.locator("[data-chart=usage-24h] g.hour")
    assert bars.count() == 24
    assert bars.last.get_attribute("data-count") == "12"
    assert page.locator("[data-change]").count() == 2
    assert page.locator("[data-uptime='24h']").count() == 1


def test_an_operator_acknowledges_an_alert_and_sees_the_timeline(page, log_in, offline_alert) -> None:
    log_in("operadora", perms=("change_alert",))
    page.goto("/alertas/")

    page.click(f"tr[data-alert='{offline_alert.pk}'] a:text('Instância julia-rj-01 offline')")
    page.click("[data-action=ack]")

    page.wait_for_selector(f"#alert-timeline-{offline_alert.pk} [data-event=acknowledged]")
    entry = page.locator(f"#alert-timeline-{offline_alert.pk} [data-event=acknowledged]")
    assert "operadora" in entry.inner_text()
    offline_alert.refresh_from_db()
    assert offline_alert.state == AlertState.ACKNOWLEDGED
    assert offline_alert.acknowledged_by.username == "operadora"


def test_a_viewer_sees_no_action_buttons(page, log_in, offline_alert) -> None:
    log_in("leitor")

    page.goto(f"/alertas/{offline_alert.pk}/")

    page.wait_for_selector(f"[data-alert='{offline_alert.pk}']")
    assert page.locator("[data-action=ack]").count() == 0
    assert page.locator("[data-action=resolve]").count() == 0


def test_the_overview_fits_a_phone(browser, live_server, django_user_model, fleet) -> None:
    django_user_model.objects.create_user("celular", password="senha-de-teste-123")
    context = browser.new_context(base_url=live_server.url, viewport={"width": 375, "height": 740}, is_mobile=True)
    phone = context.new_page()
    phone.goto("/entrar/")
    phone.fill("#id_username", "celular")
    phone.fill("#id_password", "senha-de-teste-123")
    phone.click("button[type=submit]")

    phone.wait_for_selector("#fleet-status")
    page_width = phone.evaluate("document.documentElement.scrollWidth")
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "overview-375px.png"), full_page=True)
    context.close()
    assert page_width <= 375  # the table scrolls inside its box; the page itself does not


def test_an_operator_reconnects_an_instance_and_the_page_notices_it_back(page, log_in, make_instance, settings) -> None:
    from instances.simulator import GatewaySimulator

    with GatewaySimulator(api_key="simulator-key", seed=1) as gateway:
        settings.EVOLUTION_API_URL, settings.EVOLUTION_API_KEY = gateway.url, "simulator-key"
        settings.EVOLUTION_TIMEOUT = 1
        gateway.add_instance("julia-mg-01", state="close", phone_number="5531999990001")
        seen = timezone.now() - timedelta(hours=1)
        make_instance("julia-mg-01", status=Status.DISCONNECTED, last_seen_connected_at=seen)
        log_in("operadora", perms=("reconnect_instance",))
        page.goto("/instancias/julia-mg-01/")

        page.click("[data-action=reconnect]")

        page.wait_for_selector("#reconnect-qr")
        assert page.get_attribute("#reconnect-qr", "src").startswith("data:image/png;base64,")
        gateway.set_state("julia-mg-01", "open")  # the phone scanned the code
        page.wait_for_selector("#reconnect-state[data-state=connected]", timeout=15_000)
        assert Instance.objects.get(name="julia-mg-01").status == Status.CONNECTED
