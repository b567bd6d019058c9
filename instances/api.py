"""The fleet part of the /dashboard JSON API: overview and instance detail.

Every status here is the *shown* status: ``unknown`` once the gateway has not told an
instance's state for ``STATUS_STALE_AFTER_SECONDS``, and such an instance is never online.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from ninja import Router, Schema
from ninja.errors import HttpError

from instances.dashboard import FleetStatus, InstanceUsage, fleet_overview, status_note
from instances.models import Instance, Status, status_emoji
from julia_monitor.lib.text import percent

router = Router(tags=["instâncias"])


class ResumoOut(Schema):
    total_instancias: int
    online: int
    offline: int
    banidas: int
    capacidade_dia: int
    enviadas_hoje: int
    capacidade_usada_pct: str
    sem_leitura: int


class InstanciaOut(Schema):
    nome: str
    numero: str
    status: Status
    status_emoji: str
    msgs_hora: str
    msgs_dia: str
    carga: str
    ultima_msg: datetime | None
    ultima_leitura: datetime | None
    motivo_status: str | None
    fora_do_ar_desde: datetime | None


class PainelOut(Schema):
    status: FleetStatus
    timestamp: datetime
    resumo: ResumoOut
    instancias: list[InstanciaOut]


class CapacidadeOut(Schema):
    hora: int
    dia: int


class UsoOut(Schema):
    msgs_hora: int
    msgs_dia: int
    carga_pct: float


class UsoHoraOut(Schema):
    hora: datetime
    msgs: int


class DetalheOut(Schema):
    nome: str
    numero: str
    status: Status
    status_emoji: str
    status_desde: datetime
    ativa: bool
    capacidade: CapacidadeOut
    uso: UsoOut
    medicos_atribuidos: int
    ultima_msg: datetime | None
    ultima_verificacao: datetime | None
    ultima_leitura: datetime | None
    motivo_status: str | None
    fora_do_ar_desde: datetime | None
    falhas_seguidas: int
    motivo_desconexao: str
    uso_24h: list[UsoHoraOut]


class ErroOut(Schema):
    detail: str


def local(at: datetime | None) -> datetime | None:
    """Return ``at`` in São Paulo time, so the API speaks the team's clock."""
    return timezone.localtime(at) if at else None


def instance_row(row: InstanceUsage) -> dict:
    return {
        "nome": row.name,
        "numero": row.phone_number,
        "status": row.shown_status,
        "status_emoji": status_emoji(row.shown_status),
        "msgs_hora": f"{row.msgs_hour}/{row.capacity_per_hour}",
        "msgs_dia": f"{row.msgs_day}/{row.capacity_per_day}",
        "carga": percent(row.load_pct),
        "ultima_msg": local(row.last_message_at),
        "ultima_leitura": local(row.last_read_at),
        "motivo_status": row.note or None,
        "fora_do_ar_desde": local(row.down_since),
    }


@router.get("/instances", response=PainelOut, summary="Estado da frota")
def list_instances(request: HttpRequest) -> JsonResponse:
    overview = fleet_overview()
    s = overview.summary
    body = {
        "status": s.status,
        "timestamp": timezone.localtime(overview.at),
        "resumo": {
            "total_instancias": s.total,
            "online": s.online,
            "offline": s.offline,
            "banidas": s.banned,
            "capacidade_dia": s.capacity_day,
            "enviadas_hoje": s.sent_today,
            "capacidade_usada_pct": percent(s.capacity_used_pct),
            "sem_leitura": s.stale,
        },
        "instancias": [instance_row(row) for row in overview.instances],
    }
    # Built by hand and returned as is: validating 1,000 rows through pydantic would cost
    # more than the whole query. The schema above still documents it; tests pin the format.
    return JsonResponse(body, json_dumps_params={"ensure_ascii": False})


@router.get("/instances/{nome}", response={200: DetalheOut, 404: ErroOut}, summary="Detalhe de uma instância")
def instance_detail(request: HttpRequest, nome: str) -> dict:
    now = timezone.now()
    instance = Instance.objects.with_usage(now).filter(name=nome).first()
    if instance is None:
        raise HttpError(404, "Instância não encontrada")
    status = instance.shown_status(now)
    return {
        "nome": instance.name,
        "numero": instance.phone_number,
        "status": status,
        "status_emoji": status_emoji(status),
        "status_desde": local(instance.status_since),
        "ativa": instance.is_active,
        "capacidade": {"hora": instance.capacity_per_hour, "dia": instance.capacity_per_day},
        "uso": {
            "msgs_hora": instance.msgs_hour,
            "msgs_dia": instance.msgs_day,
            "carga_pct": round(instance.load_pct, 1),
        },
        "medicos_atribuidos": instance.doctors.count(),
        "ultima_msg": local(instance.last_message_at),
        "ultima_verificacao": local(instance.last_checked_at),
        "ultima_leitura": local(instance.last_read_at),
        "motivo_status": status_note(instance.status, instance.status_reason, instance.last_read_at, now) or None,
        "fora_do_ar_desde": local(instance.down_since),
        "falhas_seguidas": instance.consecutive_failures,
        "motivo_desconexao": instance.disconnection_reason,
        "uso_24h": [{"hora": hour, "msgs": count} for hour, count in instance.usage_by_hour(24, now)],
    }
