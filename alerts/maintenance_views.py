"""Maintenance pages: the windows and what each held back, and the instance page's two actions (POST)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from alerts.choices import NotificationState
from alerts.forms import MaintenanceForm
from alerts.maintenance import MaintenanceWindow
from alerts.models import Notification
from instances.models import Instance
from julia_monitor.lib.people import signed_in_user

SCHEDULE_PERMISSION = "alerts.add_maintenancewindow"
WINDOWS_SHOWN = 100


def may_schedule(request: HttpRequest) -> bool:
    return request.user.has_perm(SCHEDULE_PERMISSION)


def _require_scheduler(request: HttpRequest) -> None:
    # Permission before anything else: a viewer changes nothing and learns nothing.
    if not may_schedule(request):
        raise PermissionDenied("Sem permissão para agendar ou encerrar manutenções.")


@login_required
@require_GET
def maintenance_list(request: HttpRequest) -> HttpResponse:
    held = Count("notifications", filter=Q(notifications__state=NotificationState.HELD))
    windows = (
        MaintenanceWindow.objects.prefetch_related("instances")
        .select_related("created_by")
        .annotate(held_count=held)[:WINDOWS_SHOWN]
    )
    context = {"section": "alerts", "windows": windows, "now": timezone.now()}
    return render(request, "alerts/maintenance_list.html", context)


@login_required
@require_GET
def maintenance_detail(request: HttpRequest, window_id: int) -> HttpResponse:
    rows = Notification.objects.filter(state=NotificationState.HELD).select_related("alert__instance")
    window = get_object_or_404(
        MaintenanceWindow.objects.select_related("created_by").prefetch_related(
            "instances", Prefetch("notifications", queryset=rows.order_by("created_at", "id"), to_attr="held")
        ),
        pk=window_id,
    )
    context = {
        "section": "alerts",
        "window": window,
        "now": timezone.now(),
        "may_schedule": may_schedule(request),
    }
    return render(request, "alerts/maintenance_detail.html", context)


@login_required
@require_POST
def maintenance_schedule(request: HttpRequest, nome: str) -> HttpResponse:
    """Schedule a window for one instance (its page's form); errors come back as messages on that page."""
    _require_scheduler(request)
    instance = get_object_or_404(Instance, name=nome)
    back = reverse("instance-detail", args=[instance.name]) + "#maintenance"
    form = MaintenanceForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Manutenção não agendada: {error}")
        return HttpResponseRedirect(back)
    data = form.cleaned_data
    try:
        window = MaintenanceWindow.schedule(
            starts_at=data["inicio"],
            ends_at=data["fim"],
            reason=data["motivo"],
            instances=[instance],
            user=signed_in_user(request),
        )
    except DjangoValidationError as error:
        for said in error.messages:
            messages.error(request, f"Manutenção não agendada: {said}")
        return HttpResponseRedirect(back)
    messages.success(request, f"Manutenção agendada: {window.reason}, {window.until_label()}.")
    return HttpResponseRedirect(back)


@login_required
@require_POST
def maintenance_end(request: HttpRequest, window_id: int) -> HttpResponse:
    """End a window now; the next evaluation posts what it held that is still wrong."""
    _require_scheduler(request)
    window = get_object_or_404(MaintenanceWindow, pk=window_id)
    if window.end_early():
        messages.success(request, f"Manutenção '{window.reason}' encerrada: o que segue errado será enviado agora.")
    else:
        messages.info(request, f"A manutenção '{window.reason}' já tinha terminado.")
    instance = window.instances.first()
    if instance is not None and not window.whole_fleet and request.POST.get("voltar") == "instancia":
        return HttpResponseRedirect(reverse("instance-detail", args=[instance.name]) + "#maintenance")
    return HttpResponseRedirect(reverse("maintenance-detail", args=[window.pk]))
