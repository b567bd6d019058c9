"""Fleet pages: the overview at ``/``, an instance's page, and its Reconnect action."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from instances.fleet import status_label, status_note
from instances.models import Instance, status_emoji
from instances.pages import NAME_SLOT, StatusArea, instance_page, instance_with_usage, overview_page
from instances.reconnect import Outcome, pop_pending, probe_now, remember_pending, request_reconnect

RECONNECT_PERMISSION = "instances.reconnect_instance"


def _not_found(request: HttpRequest, name: str) -> HttpResponse:
    return render(request, "fleet/instance_not_found.html", {"section": "fleet", "name": name}, status=404)


def _overview_context() -> dict:
    page = overview_page()
    return {
        "section": "fleet",
        "page": page,
        "now": page.overview.at,
        # Reversed once, not per row: a thousand reverse() calls cost more than the query.
        "instance_url": reverse("instance-detail", args=[NAME_SLOT]),
        "alert_log_url": reverse("alert-log"),
        "refresh_seconds": settings.OVERVIEW_REFRESH_SECONDS,
    }


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "fleet/overview.html", _overview_context())


@login_required
@require_GET
@never_cache
def overview_partial(request: HttpRequest) -> HttpResponse:
    """The part of the overview that refreshes every few seconds (fleet.js swaps it in)."""
    return render(request, "fleet/_overview_live.html", _overview_context())


@login_required
@require_GET
def instance_detail(request: HttpRequest, nome: str) -> HttpResponse:
    now = timezone.now()
    instance = instance_with_usage(nome, now)
    if instance is None:
        return _not_found(request, nome)
    context = {
        "section": "fleet",
        "page": instance_page(instance, now),
        "now": now,
        "pending": pop_pending(request.session, instance),
        "may_reconnect": request.user.has_perm(RECONNECT_PERMISSION),
        "may_schedule": request.user.has_perm("alerts.add_maintenancewindow"),
    }
    return render(request, "fleet/instance.html", context)


@login_required
@require_GET
@never_cache
def instance_status_partial(request: HttpRequest, nome: str) -> HttpResponse:
    """The instance's status area, reloaded in place once a reconnection succeeds."""
    now = timezone.now()
    instance = instance_with_usage(nome, now)
    if instance is None:
        return _not_found(request, nome)
    context = {
        "area": StatusArea(instance, now),
        "now": now,
        "may_reconnect": request.user.has_perm(RECONNECT_PERMISSION),
    }
    return render(request, "fleet/_instance_status.html", context)


@login_required
@require_GET
@never_cache
def instance_state(request: HttpRequest, nome: str) -> JsonResponse:
    """Return the instance's shown status as JSON, after a live look at the gateway (throttled).

    Shown as everywhere else: unknown when the gateway has not told the state recently.
    """
    instance = Instance.objects.filter(name=nome).first()
    if instance is None:
        return JsonResponse({"detail": "Instância não encontrada."}, status=404)
    probe_now(instance)
    now = timezone.now()
    status = instance.shown_status(now)
    return JsonResponse(
        {
            "status": status,
            "status_display": status_label(status),
            "emoji": status_emoji(status),
            "desde": timezone.localtime(instance.status_since).isoformat(),
            "motivo": status_note(instance.status, instance.status_reason, instance.last_read_at, now),
        },
        json_dumps_params={"ensure_ascii": False},
    )


@login_required
@require_POST
def instance_reconnect(request: HttpRequest, nome: str) -> HttpResponse:
    # Permission before anything else: a viewer learns nothing and the gateway is not called.
    if not request.user.has_perm(RECONNECT_PERMISSION):
        raise PermissionDenied("Sem permissão para reconectar instâncias.")
    instance = Instance.objects.filter(name=nome).first()
    if instance is None:
        return _not_found(request, nome)
    result = request_reconnect(instance, request.user)
    if result.outcome == Outcome.QR:
        remember_pending(request.session, instance, result)
        messages.info(request, result.message)
    elif result.ok:
        messages.success(request, result.message)
    elif result.outcome == Outcome.NO_QR:
        messages.warning(request, result.message)
    else:
        messages.error(request, result.message)
    return HttpResponseRedirect(reverse("instance-detail", args=[instance.name]) + "#reconnect")
