"""The alerts part of the /dashboard API: the history, acknowledgement and resolution."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, User
from django.http import HttpRequest
from django.utils import timezone
from ninja import Body, Query, Router, Schema
from ninja.errors import HttpError
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from alerts.choices import AlertState, Resolution, Rule, Severity
from alerts.models import Alert
from instances.models import ApiKey
from julia_monitor.lib.api_shapes import Erro, Linha, Texto
from julia_monitor.lib.people import signed_in_user

router = Router(tags=["alertas"])


class AlertaFiltro(Schema):
    estado: AlertState | None = None
    severidade: Severity | None = None
    regra: Rule | None = None
    instancia: Linha | None = Field(None, max_length=100)
    limite: int = Field(100, ge=1, le=500)


class EventoOut(Schema):
    evento: str
    detalhe: str
    por: str | None
    quando: datetime


class AlertaOut(Schema):
    id: int
    regra: Rule
    severidade: Severity
    estado: AlertState
    instancia: str | None
    titulo: str
    mensagem: str
    primeira_vez: datetime
    ultima_vez: datetime
    ocorrencias: int
    reconhecido_por: str | None
    reconhecido_em: datetime | None
    resolvido_por: str | None
    resolvido_em: datetime | None


class AlertaDetalheOut(AlertaOut):
    linha_do_tempo: list[EventoOut]


class AcaoIn(BaseModel):
    """The optional body of ack/resolve: nothing, or an object with a note.

    A plain pydantic model, not a ninja Schema: Schema reads any value through attribute
    access, so ``[null, null]``, ``"AAA"`` or ``123`` became an empty note and the action ran.
    """

    model_config = ConfigDict(extra="forbid")

    nota: Texto = Field("", max_length=500)

    @model_validator(mode="before")
    @classmethod
    def an_object(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError("corpo_invalido", "O corpo deve ser vazio ou um objeto JSON.")
        return data


ACTION_ERRORS = {403: Erro, 404: Erro, 409: Erro}
# No body at all is no note; a body that is there (even ``null``) must be an object.
# pydantic does not validate a default, so an absent body is None without passing the check above.
NO_BODY: Any = Body(None)


def _name(user: AbstractBaseUser | None) -> str | None:
    return user.get_username() if user else None


def alert_out(alert: Alert) -> dict:
    local = timezone.localtime
    return {
        "id": alert.pk,
        "regra": alert.rule,
        "severidade": alert.severity,
        "estado": alert.state,
        "instancia": alert.instance.name if alert.instance else None,
        "titulo": alert.title,
        "mensagem": alert.message,
        "primeira_vez": local(alert.first_seen_at),
        "ultima_vez": local(alert.last_seen_at),
        "ocorrencias": alert.occurrences,
        "reconhecido_por": _name(alert.acknowledged_by),
        "reconhecido_em": local(alert.acknowledged_at) if alert.acknowledged_at else None,
        "resolvido_por": _name(alert.resolved_by),
        "resolvido_em": local(alert.resolved_at) if alert.resolved_at else None,
    }


def alert_detail(alert: Alert) -> dict:
    events = alert.events_ordered().select_related("actor")
    return {
        **alert_out(alert),
        "linha_do_tempo": [
            {
                "evento": e.get_kind_display(),
                "detalhe": e.detail,
                "por": _name(e.actor),
                "quando": timezone.localtime(e.created_at),
            }
            for e in events
        ],
    }


def acting_user(request: HttpRequest) -> User | None:
    """The person behind a session; an API key acts as no one in particular (its name goes in the note)."""
    return None if ApiKey.of_request(request) is not None else signed_in_user(request)


def action_note(request: HttpRequest, note: str) -> str:
    key = ApiKey.of_request(request)
    if key is not None:
        return f"via chave de API {key.name}" + (f": {note}" if note else "")
    return note


def require_operator(request: HttpRequest) -> None:
    """Acting on alerts needs an API key or a person allowed to change alerts (not a viewer)."""
    if ApiKey.of_request(request) is None and not request.user.has_perm("alerts.change_alert"):
        raise HttpError(403, "Você não tem permissão para reconhecer ou resolver alertas.")


def get_alert(alert_id: int) -> Alert:
    alert = Alert.objects.select_related("instance", "acknowledged_by", "resolved_by").filter(pk=alert_id).first()
    if alert is None:
        raise HttpError(404, "Alerta não encontrado")
    return alert


@router.get("/alerts", response=list[AlertaOut], summary="Histórico de alertas (abertos primeiro)")
def list_alerts(request: HttpRequest, filtro: Query[AlertaFiltro]) -> list[dict]:
    alerts = Alert.objects.select_related("instance", "acknowledged_by", "resolved_by").matching(
        filtro.estado, filtro.severidade, filtro.regra, filtro.instancia
    )
    return [alert_out(a) for a in alerts.open_first()[: filtro.limite]]


@router.get("/alerts/{alert_id}", response={200: AlertaDetalheOut, 404: Erro}, summary="Um alerta e sua linha do tempo")
def get_alert_detail(request: HttpRequest, alert_id: int) -> dict:
    return alert_detail(get_alert(alert_id))


@router.post(
    "/alerts/{alert_id}/ack", response={200: AlertaDetalheOut, **ACTION_ERRORS}, summary="Reconhecer um alerta"
)
def acknowledge_alert(request: HttpRequest, alert_id: int, acao: AcaoIn = NO_BODY) -> dict:
    require_operator(request)
    alert = get_alert(alert_id)
    if alert.state != AlertState.FIRING:
        raise HttpError(409, f"O alerta já está {alert.get_state_display().lower()}.")
    alert.acknowledge(acting_user(request), note=action_note(request, acao.nota if acao else ""))
    return alert_detail(get_alert(alert_id))


@router.post(
    "/alerts/{alert_id}/resolve", response={200: AlertaDetalheOut, **ACTION_ERRORS}, summary="Resolver um alerta"
)
def resolve_alert(request: HttpRequest, alert_id: int, acao: AcaoIn = NO_BODY) -> dict:
    require_operator(request)
    alert = get_alert(alert_id)
    if not alert.is_open:
        raise HttpError(409, "O alerta já está resolvido.")
    alert.resolve(
        acting_user(request),
        note=action_note(request, acao.nota if acao else "") or "resolvido manualmente",
        resolution=Resolution.MANUAL,
    )
    return alert_detail(get_alert(alert_id))
