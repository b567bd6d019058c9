"""The alert pages: the log (open alerts first, filters, pages) and one alert with its timeline.

Anyone logged in sees everything; acknowledging and resolving need ``alerts.change_alert``
(operators). Both actions go through ``Alert.acknowledge`` / ``Alert.resolve``, whose
conditional UPDATE makes a double click or two operators at once act only once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from alerts.models import Alert, AlertEvent, AlertState, EventKind, Notification, NotificationState, Rule, Severity
from instances.models import Instance
from julia_monitor.lib import text

PER_PAGE = 50
# Within this window a moment reads "há 12 min"; older ones read as a date and time.
RELATIVE_WINDOW = timedelta(hours=12)
ACT_PERMISSION = "alerts.change_alert"
# Events written by delivery about notifications: on the timeline they follow the notifications.
DELIVERY_EVENTS = frozenset(
    {EventKind.NOTIFIED, EventKind.DELIVERY_FAILED, EventKind.DELIVERY_GAVE_UP, EventKind.REQUEUED}
)


def _blank(choices: list[tuple[str, str]], label: str) -> list[tuple[str, str]]:
    return [("", label), *choices]


class AlertFilterForm(forms.Form):
    """The log's filters: the same names and values as ``GET /dashboard/alerts``."""

    estado = forms.ChoiceField(label="Estado", required=False, choices=_blank(AlertState.choices, "Todos"))
    severidade = forms.ChoiceField(label="Severidade", required=False, choices=_blank(Severity.choices, "Todas"))
    regra = forms.ChoiceField(label="Regra", required=False, choices=_blank(Rule.choices, "Todas"))
    instancia = forms.ChoiceField(
        label="Instância",
        required=False,
        error_messages={"invalid_choice": "Instância desconhecida: %(value)s."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One query for the names, used both to validate and to list them (a fleet has ~1,000).
        names = Instance.objects.order_by("name").values_list("name", flat=True)
        self.fields["instancia"].choices = _blank([(n, n) for n in names], "Todas")

    def filter(self, alerts: QuerySet[Alert]) -> QuerySet[Alert]:
        """Apply the filters that are valid; an invalid one is shown as an error and ignored."""
        data = getattr(self, "cleaned_data", {})
        if data.get("estado"):
            alerts = alerts.filter(state=data["estado"])
        if data.get("severidade"):
            alerts = alerts.filter(severity=data["severidade"])
        if data.get("regra"):
            alerts = alerts.filter(rule=data["regra"])
        if data.get("instancia"):
            alerts = alerts.filter(instance__name=data["instancia"])
        return alerts


class ActionForm(forms.Form):
    nota = forms.CharField(label="Nota (opcional)", required=False, max_length=500)


@dataclass(frozen=True)
class Moment:
    """A moment as a person reads it: "há 3 min" when recent, else "10/03 14:05"; ``full`` for a tooltip."""

    at: datetime
    label: str

    @property
    def iso(self) -> str:
        return self.at.isoformat()

    @property
    def full(self) -> str:
        return text.moment_full(self.at)


def moment(at: datetime | None, now: datetime) -> Moment | None:
    if at is None:
        return None
    age = now - at
    if timedelta(0) <= age < RELATIVE_WINDOW:
        return Moment(at, text.ago(at, now))
    return Moment(at, text.moment(at))


@dataclass(frozen=True)
class Row:
    alert: Alert
    first_seen: Moment
    last_seen: Moment
    acknowledged: Moment | None


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the alert page's timeline: an ``AlertEvent`` or a ``Notification`` (the outbox)."""

    at: datetime
    kind: str  # the event kind, or "notification"
    label: str
    detail: str
    actor: str
    notification: Notification | None = None

    @property
    def when(self) -> str:
        return text.moment_exact(self.at)


def timeline(alert: Alert) -> list[TimelineEntry]:
    """Return the alert's events and its notifications merged in time order.

    On equal times the story order wins: the alert opens (or resolves), then its messages are
    queued (same transaction, same ``now``), then delivery reports on them.
    """
    keyed: list[tuple[tuple[datetime, int, int], TimelineEntry]] = []
    event: AlertEvent
    for event in alert.events.select_related("actor").order_by("created_at", "id"):
        entry = TimelineEntry(
            at=event.created_at,
            kind=event.kind,
            label=event.get_kind_display(),
            detail=event.detail,
            actor=event.actor.get_username() if event.actor else "",
        )
        keyed.append(((event.created_at, 2 if event.kind in DELIVERY_EVENTS else 0, event.pk), entry))
    for row in alert.notifications.order_by("created_at", "id"):
        entry = TimelineEntry(
            at=row.created_at,
            kind="notification",
            label=f"Notificação · {row.get_channel_display()} · {row.get_kind_display()}",
            detail=_delivery_detail(row),
            actor="",
            notification=row,
        )
        keyed.append(((row.created_at, 1, row.pk), entry))
    return [entry for _key, entry in sorted(keyed, key=lambda pair: pair[0])]


def _delivery_detail(row: Notification) -> str:
    attempts = "1 tentativa" if row.attempts == 1 else f"{row.attempts} tentativas"
    parts = [row.get_state_display(), attempts]
    if row.sent_at:
        parts.append(f"enviada às {text.moment_exact(row.sent_at)}")
    elif row.state == NotificationState.PENDING:
        parts.append(f"próxima tentativa às {text.moment_exact(row.next_attempt_at)}")
    return " · ".join(parts)


def can_act(request: HttpRequest) -> bool:
    return request.user.has_perm(ACT_PERMISSION)


@login_required
def alert_log(request: HttpRequest) -> HttpResponse:
    form = AlertFilterForm(request.GET)
    valid = form.is_valid()
    alerts = form.filter(Alert.objects.select_related("instance", "acknowledged_by").open_first())
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
        if alert.acknowledge(request.user, note=note):
            messages.success(request, f"Alerta reconhecido: {alert.title}. Os lembretes param até a resolução.")
        else:
            messages.warning(request, _not_done(alert))
    elif alert.resolve(request.user, note=note or "resolvido manualmente"):
        messages.success(request, f"Alerta resolvido: {alert.title}.")
    else:
        messages.warning(request, _not_done(alert))
    return _back(request, alert)


def _not_done(alert: Alert) -> str:
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
