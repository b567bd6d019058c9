"""Fleet pages: an instance's page and its actions (the overview at ``/`` is ``overview_views``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from instances.doctor_moves import migrate, undo
from instances.fleet import status_label, status_note
from instances.models import Instance, MigrationBatch, MigrationReason, status_emoji
from instances.pages import (
    StatusArea,
    doctor_moves_area,
    instance_page,
    instance_with_usage,
    open_unstable_ids,
)
from instances.reconnect import Outcome, pop_pending, probe_now, remember_pending, request_reconnect

RECONNECT_PERMISSION = "instances.reconnect_instance"
MIGRATE_PERMISSION = "instances.migrate_doctors"


def _not_found(request: HttpRequest, name: str) -> HttpResponse:
    return render(request, "fleet/instance_not_found.html", {"section": "fleet", "name": name}, status=404)


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
        "moves": doctor_moves_area(instance),
        "may_migrate": request.user.has_perm(MIGRATE_PERMISSION),
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


def _back_to_moves(instance: Instance) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("instance-detail", args=[instance.name]) + "#doctor-moves")


@login_required
@require_POST
def instance_drain(request: HttpRequest, nome: str) -> HttpResponse:
    """Move the instance's doctors to eligible instances with room (the ban's algorithm, by hand)."""
    if not request.user.has_perm(MIGRATE_PERMISSION):
        raise PermissionDenied("Sem permissão para migrar médicos.")
    instance = Instance.objects.filter(name=nome).first()
    if instance is None:
        return _not_found(request, nome)
    batch = migrate(instance, MigrationReason.DRAINED, request.user, unstable=open_unstable_ids())
    assert batch is not None  # only a ban is migrated once; a drain always makes its batch
    if batch.stranded:
        messages.warning(request, f"Migração de {instance.name}: {batch.summary}.")
    else:
        messages.success(request, f"Migração de {instance.name}: {batch.summary}.")
    return _back_to_moves(instance)


@login_required
@require_POST
def migration_undo(request: HttpRequest, nome: str, lote: int) -> HttpResponse:
    """Move the doctors of one batch back, those still where the batch put them."""
    if not request.user.has_perm(MIGRATE_PERMISSION):
        raise PermissionDenied("Sem permissão para desfazer migrações de médicos.")
    batch = MigrationBatch.objects.select_related("instance").filter(pk=lote, instance__name=nome).first()
    if batch is None:
        return _not_found(request, nome)
    restored = undo(batch, request.user)
    if restored is None:
        messages.info(request, "Esta migração já tinha sido desfeita.")
    else:
        left = batch.moved - restored
        note = f"; {left} já estavam em outra instância e ficaram onde estão" if left else ""
        messages.success(request, f"Migração desfeita: {restored} médico(s) de volta a {batch.instance.name}{note}.")
    return _back_to_moves(batch.instance)
