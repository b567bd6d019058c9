"""The Content-Security-Policy breaks nothing: every page, the admin and the API docs run under it
without one violation, and nothing is fetched from outside the portal (the machines are offline)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from alerts.choices import Rule, Severity
from alerts.models import Alert
from instances.models import CheckCycle, Doctor, Status

pytestmark = pytest.mark.django_db(transaction=True)

# Recorded in the page itself: the console wording differs between browsers, the event does not.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile);
});
"""


@pytest.fixture
def watched(page: Any, live_server: Any) -> dict[str, list[str]]:
    """The page, with every CSP complaint on its console and every request leaving the portal noted."""
    seen: dict[str, list[str]] = {"console": [], "outside": []}
    page.add_init_script(RECORD_VIOLATIONS)
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and seen["console"].append(message.text),
    )
    page.on(
        "request",
        lambda request: (
            request.url.startswith(("http://", "https://"))
            and not request.url.startswith(live_server.url)
            and seen["outside"].append(request.url)
        ),
    )
    return seen


@pytest.fixture
def scene(make_instance, django_user_model) -> dict[str, Any]:
    now = timezone.now()
    up = make_instance("julia-sp-01", status=Status.CONNECTED, last_seen_connected_at=now)
    down = make_instance("julia-rj-01", status=Status.DISCONNECTED, last_seen_connected_at=now - timedelta(hours=1))
    up.record_sent(count=7)
    CheckCycle.objects.create(started_at=now - timedelta(seconds=5), finished_at=now)
    alert = Alert.objects.create(
        rule=Rule.INSTANCE_OFFLINE,
        severity=Severity.ERROR,
        instance=down,
        key=f"{Rule.INSTANCE_OFFLINE}:{down.pk}",
        title="Instância julia-rj-01 offline",
        message="julia-rj-01 está desconectada.",
    )
    alert.events.create(kind="opened", detail=alert.message)
    user = django_user_model.objects.create_superuser("chefe", password="senha-de-teste-123")
    return {"instance": up, "alert": alert, "user": user}


def violations(page: Any, watched: dict[str, list[str]]) -> list[str]:
    return page.evaluate("window.__cspViolations") + watched["console"]


def test_no_page_breaks_the_policy(page: Any, watched: dict[str, list[str]], scene: dict[str, Any]) -> None:
    page.goto("/entrar/")
    assert violations(page, watched) == []
    page.fill("#id_username", "chefe")
    page.fill("#id_password", "senha-de-teste-123")
    page.click("button[type=submit]")
    page.wait_for_selector("#fleet-status")

    visits = [
        ("/", "tr[data-instance='julia-sp-01']"),
        ("/instancias/julia-sp-01/", "svg[data-chart='usage-24h']"),
        ("/alertas/", "#alert-filters"),
        (f"/alertas/{scene['alert'].pk}/", "[data-action='ack']"),
        ("/admin/", "#site-name"),
        ("/admin/instances/instance/", "#changelist-form"),
        (f"/admin/instances/instance/{scene['instance'].pk}/change/", "input[name='_save']"),
        ("/admin/alerts/alert/", "#changelist-form"),
        ("/admin/instances/doctor/", "#changelist-form"),
        ("/admin/instances/doctor/import/", "#doctor-import-help"),
        ("/admin/instances/doctor/export/", "#doctor-export select[name='format']"),
        (f"/admin/auth/user/{scene['user'].pk}/change/", "select[name='user_permissions_old']"),  # filter widget
        ("/admin/django_q/schedule/add/", "input[name='_save']"),  # date and time pickers
        ("/dashboard/docs", ".swagger-ui .opblock"),  # Swagger UI drew the operations: its script ran
        ("/pagina-que-nao-existe/", "h1"),
    ]
    found: dict[str, list[str]] = {}
    unprotected = []
    for path, ready in visits:
        response = page.goto(path)
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        if "default-src 'self'" not in response.headers.get("content-security-policy", ""):
            unprotected.append(path)
        if problems := violations(page, watched):
            found[path] = problems
        watched["console"].clear()

    assert unprotected == []
    assert found == {}
    assert watched["outside"] == []


def test_the_admin_actions_and_the_alert_buttons_still_submit(page: Any, watched: dict[str, list[str]], scene) -> None:
    page.goto("/entrar/")
    page.fill("#id_username", "chefe")
    page.fill("#id_password", "senha-de-teste-123")
    page.click("button[type=submit]")

    page.goto(f"/alertas/{scene['alert'].pk}/")
    page.click("[data-action='ack']")
    page.wait_for_load_state("networkidle")
    page.goto("/admin/alerts/alert/")
    page.check("#action-toggle")  # the admin's own script ticks every row
    assert page.locator("input.action-select:checked").count() == 1
    # A new API key is shown once on its own page, styled without an inline style attribute.
    page.goto("/admin/instances/apikey/add/")
    page.fill("input[name='name']", "remetente")
    page.click("input[name='_save']")
    page.wait_for_selector("#api-key-secret")

    assert violations(page, watched) == []
    scene["alert"].refresh_from_db()
    assert scene["alert"].acknowledged_at is not None


def test_a_doctor_import_previews_and_confirms_under_the_policy(
    page: Any, watched: dict[str, list[str]], scene: dict[str, Any], tmp_path: Any
) -> None:
    Doctor.objects.create(name="Dra. Ana Souza", phone_number="5511987654321", especialidade="Clínica")
    sheet = tmp_path / "medicos.csv"
    sheet.write_text(
        "nome,telefone,crm,especialidade,instancia_preferida\n"
        "Dra. Ana Souza,(11) 98765-4321,CRM/SP 123456,Cardiologia,julia-sp-01\n"  # an update: the preview diffs it
        "Dr. Bruno Lima,21 99876-5432,,Pediatria,julia-rj-01\n",
        encoding="utf-8",
    )
    page.goto("/entrar/")
    page.fill("#id_username", "chefe")
    page.fill("#id_password", "senha-de-teste-123")
    page.click("button[type=submit]")

    page.goto("/admin/instances/doctor/import/")
    page.set_input_files("#id_import_file", str(sheet))
    page.select_option("#id_format", label="csv")
    page.click("input[type=submit]")
    page.wait_for_selector("table.import-preview ins")  # the update's new values, marked without inline style
    page.click("input[name=confirm]")
    page.wait_for_selector("ul.messagelist li.success")

    assert violations(page, watched) == []
    assert Doctor.objects.get(name="Dra. Ana Souza").especialidade == "Cardiologia"
    assert Doctor.objects.count() == 2
