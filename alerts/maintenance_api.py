"""Maintenance windows in the /dashboard API: list, schedule, end early."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja import Router, Schema
from ninja.decorators import decorate_view
from ninja.errors import HttpError
from ninja.responses import Status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from alerts.api import acting_user
from alerts.choices import NotificationState
from alerts.maintenance import MaintenanceWindow
from alerts.models import Notification
from instances.models import Instance
from julia_monitor.lib.api_shapes import Erro, Linha

router = Router(tags=["manutenções"])
SCHEDULE_PERMISSION = "alerts.add_maintenancewindow"

WINDOWS_LISTED = 100
# Far enough for any real plan; bounds keep time-zone arithmetic away from year 1 and 9999.
EARLIEST, LATEST = 2000, 2100


class RetidaOut(Schema):
    alerta: int
    titulo: str
    instancia: str | None
    tipo: str
    canal: str
    quando: datetime


class ManutencaoOut(Schema):
    id: int
    inicio: datetime
    fim: datetime
    motivo: str
    frota_inteira: bool
    instancias: list[str]
    ativa: bool
    encerrada_em: datetime | None
    criada_por: str | None
    retidas: list[RetidaOut]


class ManutencaoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inicio: datetime | None = None
    fim: datetime
    motivo: Linha = Field(min_length=1, max_length=200)
    frota_inteira: bool = False
    instancias: list[Linha] = Field(default_factory=list, max_length=500)

    @field_validator("inicio", "fim")
    @classmethod
    def plausible(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if not EARLIEST <= value.year < LATEST:
            raise PydanticCustomError("data_fora_do_intervalo", f"deve estar entre {EARLIEST} e {LATEST - 1}.")
        # A moment without an offset is read as São Paulo time, like everything the portal shows.
        return value if timezone.is_aware(value) else timezone.make_aware(value)

    @model_validator(mode="after")
    def ends_after_it_starts(self) -> ManutencaoIn:
        start = self.inicio or timezone.now()
        if self.fim <= start:
            raise PydanticCustomError("fim_antes_do_inicio", "O fim deve ser depois do início.")
        if not self.frota_inteira and not self.instancias:
            raise PydanticCustomError("sem_alcance", "Escolha ao menos uma instância ou a frota inteira.")
        return self


FORBIDDEN = "Você não tem permissão para agendar ou encerrar manutenções."


def schedulers_only(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse a logged-in person without the permission before the body is read.

    Wrapped around the operation (``decorate_view``), so a viewer is told 403 rather than
    what their body lacked. A request with a key, or with no login at all, goes on to the
    API's own authentication (a valid key may write; anything else is a 401).
    """

    @wraps(run)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        has_key = bool(request.headers.get("X-API-Key"))
        if not has_key and request.user.is_authenticated and not request.user.has_perm(SCHEDULE_PERMISSION):
            return JsonResponse({"detail": FORBIDDEN}, status=403, json_dumps_params={"ensure_ascii": False})
        return run(request, *args, **kwargs)

    return guarded


def window_out(window: MaintenanceWindow, now: datetime) -> dict[str, Any]:
    local = timezone.localtime
    return {
        "id": window.pk,
        "inicio": local(window.starts_at),
        "fim": local(window.ends_at),
        "motivo": window.reason,
        "frota_inteira": window.whole_fleet,
        "instancias": [i.name for i in window.instances.all()],
        "ativa": window.is_active(now),
        "encerrada_em": local(window.cancelled_at) if window.cancelled_at else None,
        "criada_por": window.created_by.get_username() if window.created_by else None,
        "retidas": [
            {
                "alerta": n.alert_id,
                "titulo": n.alert.title,
                "instancia": n.alert.instance.name if n.alert.instance else None,
                "tipo": n.get_kind_display(),
                "canal": n.get_channel_display(),
                "quando": local(n.created_at),
            }
            for n in window.held  # type: ignore[attr-defined]  # prefetched with to_attr
        ],
    }


def windows_for_api() -> Any:
    held = Notification.objects.filter(state=NotificationState.HELD).select_related("alert__instance").order_by("id")
    return MaintenanceWindow.objects.select_related("created_by").prefetch_related(
        "instances", Prefetch("notifications", queryset=held, to_attr="held")
    )


def get_window(window_id: int) -> MaintenanceWindow:
    window = windows_for_api().filter(pk=window_id).first()
    if window is None:
        raise HttpError(404, "Manutenção não encontrada")
    return window


@router.get("/manutencoes", response=list[ManutencaoOut], summary="Janelas de manutenção (as mais recentes primeiro)")
def list_windows(request: HttpRequest) -> list[dict[str, Any]]:
    now = timezone.now()
    return [window_out(w, now) for w in windows_for_api()[:WINDOWS_LISTED]]


@router.post(
    "/manutencoes",
    response={201: ManutencaoOut, 403: Erro},
    summary="Agendar uma manutenção: alertas do que ela cobre são registrados, não enviados",
)
@decorate_view(schedulers_only)
def schedule_window(request: HttpRequest, dados: ManutencaoIn) -> Status[dict[str, Any]]:
    names = sorted(set(dados.instancias))
    instances = list(Instance.objects.filter(name__in=names))
    unknown = sorted(set(names) - {i.name for i in instances})
    if unknown:
        raise HttpError(422, f"Instância desconhecida: {', '.join(unknown)}.")
    try:
        window = MaintenanceWindow.schedule(
            starts_at=dados.inicio,
            ends_at=dados.fim,
            reason=dados.motivo,
            instances=instances,
            whole_fleet=dados.frota_inteira,
            user=acting_user(request),
        )
    except DjangoValidationError as error:
        raise HttpError(422, " ".join(error.messages)) from error
    return Status(201, window_out(get_window(window.pk), timezone.now()))


@router.post(
    "/manutencoes/{window_id}/encerrar",
    response={200: ManutencaoOut, 403: Erro, 404: Erro, 409: Erro},
    summary="Encerrar uma manutenção agora: o que segue errado é enviado na próxima avaliação",
)
@decorate_view(schedulers_only)
def end_window(request: HttpRequest, window_id: int) -> dict[str, Any]:
    window = get_window(window_id)
    if not window.end_early():
        raise HttpError(409, "A manutenção já terminou.")
    return window_out(get_window(window_id), timezone.now())
