"""The alert pages: the log (open alerts first, filters, pages) and one alert with its timeline.

Anyone logged in sees everything; acknowledging and resolving need ``alerts.change_alert``
(operators). Both actions go through ``Alert.acknowledge`` / ``Alert.resolve``, whose
conditional UPDATE makes a double click or two operators at once act only once.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from alerts.choices import AlertState
from alerts.forms import ActionForm, AlertFilterForm
from alerts.models import Alert
from alerts.pages import Row, moment, timeline
from julia_monitor.lib import text
from julia_monitor.lib.people import signed_in_user

PER_PAGE = 50
ACT_PERMISSION = "alerts.change_alert"


def can_act(request: HttpRequest) -> bool:
    return request.user.has_perm(ACT_PERMISSION)


@login_required
def alert_log(request: HttpRequest) -> HttpResponse:
    form = AlertFilterForm(request.GET)
    valid = form.is_valid()
    alerts = form.filter(Alert.objects.select_related("instance", "acknowledged_by").with_held().open_first())
    page = Paginator(alerts, PER_PAGE).get_page(request.GET.get("pagina"))
    now = timezone.now()
    rows = [
        Row(a, moment(a.first_seen_at, now), moment(a.last_seen_at, now), moment(a.acknowledged_at, now))
        for a in page.object_list
    ]
    counts = Alert.objects.aggregate(
        firing=Count("pk", filter=Q(state=AlertState.FIRING)),
        acknowledged=Count("pk", filter=Q(state=AlertState.ACKNOWLEDGED)),
    )
    # Pagination links keep the filters; the page number is added by the template.
    query = request.GET.copy()
    query.pop("pagina", None)
    context = {
        "section": "alerts",
        "form": form,
        "page": page,
        "rows": rows,
        "counts": counts,
        "filter_query": query.urlencode(),
        "can_act": can_act(request),
        "here": request.get_full_path(),
    }
    # A bad filter is the visitor's mistake: say so on the page, with a 4xx, never a 500.
    return render(request, "alerts/log.html", context, status=200 if valid else 400)


def _detail_context(request: HttpRequest, alert: Alert, action_form: ActionForm | None = None) -> dict:
    now = timezone.now()
    return {
        "section": "alerts",
        "alert": alert,
        "first_seen": moment(alert.first_seen_at, now),
        "last_seen": moment(alert.last_seen_at, now),
        "duration": text.duration((alert.resolved_at or now) - alert.first_seen_at),
        "timeline": timeline(alert),
        "can_act": can_act(request),
        "action_form": action_form or ActionForm(),
    }


def _get_alert(alert_id: int) -> Alert:
    return get_object_or_404(Alert.objects.select_related("instance", "acknowledged_by", "resolved_by"), pk=alert_id)


@login_required
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    return render(request, "alerts/detail.html", _detail_context(request, _get_alert(alert_id)))


def _back(request: HttpRequest, alert: Alert) -> HttpResponseRedirect:
    """Go back where the button was (the log keeps its filters), or to the alert's page."""
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return HttpResponseRedirect(target if safe else reverse("alert-detail", args=[alert.pk]))


def _act(request: HttpRequest, alert_id: int, action: str) -> HttpResponse:
    """Shared body of the two actions: permission, note, the model call, and a message."""
    alert = _get_alert(alert_id)
    if not can_act(request):
        context = {"section": "alerts", "alert": alert}
        return render(request, "alerts/forbidden.html", context, status=403)
    form = ActionForm(request.POST)
    if not form.is_valid():
        return render(request, "alerts/detail.html", _detail_context(request, alert, form), status=400)
    note = form.cleaned_data["nota"].strip()
    if action == "ack":
        if alert.acknowledge(signed_in_user(request), note=note):
            messages.success(request, f"Alerta reconhecido: {alert.title}. Os lembretes param até a resolução.")
        else:
            messages.warning(request, not_done(alert))
    elif alert.resolve(signed_in_user(request), note=note or "resolvido manualmente"):
        messages.success(request, f"Alerta resolvido: {alert.title}.")
    else:
        messages.warning(request, not_done(alert))
    return _back(request, alert)


def not_done(alert: Alert) -> str:
    """Explain why nothing changed: somebody (or the monitor) got there first."""
    alert = _get_alert(alert.pk)
    if alert.state == AlertState.RESOLVED:
        who = f" por {alert.resolved_by.get_username()}" if alert.resolved_by else ""
        return f"Nada mudou: o alerta “{alert.title}” já estava resolvido{who}."
    who = f" por {alert.acknowledged_by.get_username()}" if alert.acknowledged_by else ""
    return f"Nada mudou: o alerta “{alert.title}” já estava reconhecido{who}."


@require_POST
@login_required
def acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    return _act(request, alert_id, "ack")


@require_POST
@login_required
def resolve(request: HttpRequest, alert_id: int) -> HttpResponse:
    return _act(request, alert_id, "resolve")
