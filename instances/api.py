"""The fleet part of the /dashboard JSON API: the overview, an instance's detail, and usage reports.

Every status here is the *shown* status: ``unknown`` once the gateway has not told an
instance's state for ``STATUS_STALE_AFTER_SECONDS``, and such an instance is never online.

``POST /dashboard/instances/{nome}/uso`` counts messages sent by a sender that is not behind
Evolution webhooks. With ``id_mensagem`` it is idempotent, and shares the de-duplication of the
webhooks: a message reported here and seen as ``send.message`` with the same id counts once.
Only an API key or a person allowed to report usage (operators, administrators) may post: a
viewer could inflate the counts.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, tzinfo
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from instances.fleet import FleetStatus, InstanceUsage, fleet_overview, status_note
from instances.fleet_filters import FiltroFrota, FleetQuery
from instances.forecast import Forecast, instance_forecast
from instances.models import ApiKey, Instance, Status, load_percent, status_emoji
from julia_monitor.lib.api_shapes import (
    INVALID_CHARACTER,
    LINE_CHARACTER,
    NOT_IN_A_LINE,
    Erro,
    Linha,
    invalid_character_in,
)
from julia_monitor.lib.json_body import json_response, moment
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
    previsao_dia: int = Field(description="Mensagens previstas até o fim do dia neste ritmo (frota)")
    previsao_dia_pct: str = Field(description="previsao_dia contra capacidade_dia")


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
    resumo: ResumoOut = Field(description="A frota inteira, com ou sem filtros")
    instancias: list[InstanciaOut]
    # Beside the spec's keys, only when a page is asked for (pagina or por_pagina).
    pagina: int | None = Field(None, description="Só com pagina ou por_pagina")
    por_pagina: int | None = Field(None, description="Só com pagina ou por_pagina")
    paginas: int | None = Field(None, description="Páginas do resultado filtrado; só com pagina ou por_pagina")
    total_filtrado: int | None = Field(
        None, description="Instâncias que atendem aos filtros; só com pagina ou por_pagina"
    )


class CapacidadeOut(Schema):
    hora: int
    dia: int


class UsoOut(Schema):
    msgs_hora: int
    msgs_dia: int
    carga_pct: float


# The capacity forecast at the current pace (docs/forecast.md): null where there is too little
# data, or where the limit is not reached before the hour or the day ends.
class PrevisaoOut(Schema):
    limite_hora_em: datetime | None
    limite_dia_em: datetime | None
    projecao_dia: int | None


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
    previsao: PrevisaoOut


def local(at: datetime | None) -> datetime | None:
    """Return ``at`` in São Paulo time, so the API speaks the team's clock."""
    # The default zone is cached; localtime() looks the current one up on every call (1,000 rows, three times each).
    return at.astimezone(timezone.get_default_timezone()) if at else None


def usage_of(instance: Instance) -> dict[str, Any]:
    """Return the spec's ``uso`` object of an instance annotated by ``with_usage()``."""
    return {"msgs_hora": instance.msgs_hour, "msgs_dia": instance.msgs_day, "carga_pct": round(instance.load_pct, 1)}


def forecast_of(f: Forecast) -> dict[str, Any]:
    """Return the ``previsao`` object of an instance's detail (beside the spec's keys)."""
    return {
        "limite_hora_em": local(f.hour.limit_at),
        "limite_dia_em": local(f.day.limit_at),
        "projecao_dia": f.day.projected,
    }


def instance_json(row: InstanceUsage) -> orjson.Fragment:
    """Return an instance's row of the overview as JSON, written once per row and reading.

    ``InstanceUsage`` rows are shared by the overviews that find the instance unchanged, and a
    row read again by a check cycle shares ``derived`` with the one before: what precedes and
    follows ``ultima_leitura`` is written once, and only the moment is written per reading.
    """
    read_at, derived = row.last_read_at, row.derived
    written = derived.get("api_json")
    if written is not None and written[0] == read_at:
        return written[1]
    around = derived.get("api_json_around")
    if around is None:
        around = derived["api_json_around"] = _json_around_reading(row)
    fragment = orjson.Fragment(around[0] + _moment_json(read_at, timezone.get_default_timezone()) + around[1])
    derived["api_json"] = (read_at, fragment)
    return fragment


def _json_around_reading(row: InstanceUsage) -> tuple[bytes, bytes]:
    """Return the JSON of ``instance_row(row)`` before and after the value of ``ultima_leitura``."""
    fields = instance_row(row)
    keys = list(fields)
    split = keys.index("ultima_leitura")
    before = orjson.dumps({key: fields[key] for key in keys[:split]})
    after = orjson.dumps({key: fields[key] for key in keys[split + 1 :]})
    return before[:-1] + b',"ultima_leitura":', b"," + after[1:]


def instance_row(row: InstanceUsage) -> dict:
    """Return an instance's row of the overview (one of 10,000: nothing is worked out twice)."""
    status = row.shown_status
    hour, hour_capacity, day, day_capacity = row.msgs_hour, row.capacity_per_hour, row.msgs_day, row.capacity_per_day
    message_at, down_since = row.last_message_at, row.down_since
    return {
        "nome": row.name,
        "numero": row.phone_number,
        "status": status,
        "status_emoji": status_emoji(status),
        "msgs_hora": f"{hour}/{hour_capacity}",
        "msgs_dia": f"{day}/{day_capacity}",
        "carga": percent(load_percent(hour, hour_capacity, day, day_capacity)),
        "ultima_msg": moment(message_at) if message_at else None,
        "ultima_leitura": moment(row.last_read_at),
        "motivo_status": row.note or None,
        "fora_do_ar_desde": moment(down_since) if down_since else None,
    }


@functools.lru_cache(maxsize=1024)
def _moment_json(at: datetime | None, zone: tzinfo) -> bytes:
    """Return ``at`` as JSON in ``zone`` (the portal's zone, part of the key): a check cycle reads
    thousands of instances at one instant."""
    return orjson.dumps(moment(at))


@router.get(
    "/instances",
    response=PainelOut,
    summary="Estado da frota",
    description="Sem parâmetros, a frota inteira. `status` e `busca` filtram `instancias`; `pagina` ou "
    "`por_pagina` pedem uma página e acrescentam `pagina`, `por_pagina`, `paginas` e `total_filtrado`. "
    "`resumo` é sempre o da frota inteira.",
)
def list_instances(request: HttpRequest, filtro: Query[FiltroFrota]) -> HttpResponse:
    query = FleetQuery.parse(filtro.status, filtro.busca, filtro.pagina, filtro.por_pagina)
    overview = fleet_overview()
    page = query.select(overview.instances)
    s = overview.summary
    body: dict[str, Any] = {
        "status": s.status,
        "timestamp": moment(overview.at),
        "resumo": {
            "total_instancias": s.total,
            "online": s.online,
            "offline": s.offline,
            "banidas": s.banned,
            "capacidade_dia": s.capacity_day,
            "enviadas_hoje": s.sent_today,
            "capacidade_usada_pct": percent(s.capacity_used_pct),
            "sem_leitura": s.stale,
            "previsao_dia": s.projected_today,
            "previsao_dia_pct": percent(s.projected_pct),
        },
        "instancias": [instance_json(row) for row in page.rows],
    }
    if query.per_page is not None:
        body.update(pagina=page.page, por_pagina=page.per_page, paginas=page.pages, total_filtrado=page.total)
    # Built by hand and written by orjson: validating 10,000 rows through pydantic, or encoding
    # them with Django's encoder, would cost more than the whole query. The schema above still
    # documents it; tests pin the format.
    return json_response(body)


@router.get("/instances/{nome}", response={200: DetalheOut, 404: Erro}, summary="Detalhe de uma instância")
def instance_detail(request: HttpRequest, nome: Linha) -> dict:
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
        "uso": usage_of(instance),
        "medicos_atribuidos": instance.doctors.count(),
        "ultima_msg": local(instance.last_message_at),
        "ultima_verificacao": local(instance.last_checked_at),
        "ultima_leitura": local(instance.last_read_at),
        "motivo_status": status_note(instance.status, instance.status_reason, instance.last_read_at, now) or None,
        "fora_do_ar_desde": local(instance.down_since),
        "falhas_seguidas": instance.consecutive_failures,
        "motivo_desconexao": instance.disconnection_reason,
        "uso_24h": [{"hora": hour, "msgs": count} for hour, count in instance.usage_by_hour(24, now)],
        "previsao": forecast_of(instance_forecast(instance, now)),
    }


# --- Usage reports ------------------------------------------------------------------------------

MAX_QUANTITY = 1000
# Printable text with something besides spaces (the validator strips them, then needs a character).
ID_PATTERN = rf"^{LINE_CHARACTER}*[^\s{NOT_IN_A_LINE}]{LINE_CHARACTER}*$"
FUTURE_TOLERANCE = timedelta(minutes=5)


class UsageIn(BaseModel):
    """Messages sent by one instance; errors are raised with pt-BR messages for the client.

    A plain pydantic model, not a ninja Schema: Schema wraps the input in a getter object
    before the validators run, which hides the body from the checks below.
    """

    model_config = ConfigDict(extra="forbid")

    # The constraints below are for the schema (what a client can read); the validators enforce them.
    quantidade: int = Field(1, ge=1, le=MAX_QUANTITY)
    id_mensagem: str | None = Field(None, min_length=1, max_length=128, json_schema_extra={"pattern": ID_PATTERN})
    enviada_em: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def known_fields_only(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError("corpo_invalido", "O corpo deve ser um objeto JSON.")
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            raise PydanticCustomError(
                "campo_desconhecido", "Campos desconhecidos: {campos}.", {"campos": ", ".join(map(str, unknown))}
            )
        return data

    @field_validator("quantidade", mode="before")
    @classmethod
    def quantity_in_range(cls, value: Any) -> int:
        # Strict on purpose: "5", 5.0 or true are client bugs, not quantities.
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
            raise PydanticCustomError(
                "quantidade_invalida", "quantidade deve ser um número inteiro de 1 a {max}.", {"max": MAX_QUANTITY}
            )
        return value

    @field_validator("id_mensagem", mode="before")
    @classmethod
    def message_id_text(cls, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > 128:
            raise PydanticCustomError("id_mensagem_invalido", "id_mensagem deve ser um texto de 1 a 128 caracteres.")
        if invalid_character_in(value):
            raise PydanticCustomError(INVALID_CHARACTER, "id_mensagem contém caracteres inválidos (controle ou NUL).")
        return value.strip()

    @field_validator("enviada_em", mode="before")
    @classmethod
    def sent_at_instant(cls, value: Any) -> datetime | None:
        if value is None:
            return None
        try:
            at = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            raise PydanticCustomError(
                "enviada_em_invalida",
                "enviada_em deve ser uma data e hora ISO 8601 com fuso, ex.: 2025-10-21T14:03:11-03:00.",
            )
        now = timezone.now()
        if at > now + FUTURE_TOLERANCE:
            raise PydanticCustomError("enviada_em_futura", "enviada_em não pode estar no futuro.")
        # Older than the de-duplication window, a replay could no longer be recognised.
        days = settings.MESSAGE_ID_RETENTION_DAYS
        if at < now - timedelta(days=days):
            raise PydanticCustomError(
                "enviada_em_antiga", "enviada_em não pode ter mais de {dias} dias.", {"dias": days}
            )
        return min(at, now)

    @model_validator(mode="after")
    def one_message_per_id(self) -> UsageIn:
        if self.id_mensagem is not None and self.quantidade != 1:
            raise PydanticCustomError("quantidade_com_id", "Com id_mensagem, quantidade deve ser 1.")
        return self


class UsageOut(Schema):
    instancia: str
    contabilizada: bool
    quantidade: int
    uso: UsoOut


REPORT_USAGE_PERMISSION = "instances.report_usage"


def require_reporter(request: HttpRequest) -> None:
    """Reporting usage needs an API key or a person allowed to report it (not a viewer)."""
    if ApiKey.of_request(request) is None and not request.user.has_perm(REPORT_USAGE_PERMISSION):
        raise HttpError(403, "Você não tem permissão para registrar mensagens enviadas.")


@router.post(
    "/instances/{nome}/uso",
    response={200: UsageOut, 403: Erro, 404: Erro},
    summary="Registrar mensagens enviadas",
    description="Conta mensagens enviadas pela instância. Idempotente quando `id_mensagem` é informado: "
    'uma repetição responde 200 com `"contabilizada": false`.',
)
def report_usage(request: HttpRequest, nome: Linha, payload: UsageIn) -> dict[str, Any]:
    require_reporter(request)
    instance = Instance.objects.filter(name=nome).first()
    if instance is None:
        raise HttpError(404, "Instância não encontrada")
    counted = instance.record_sent(payload.id_mensagem, payload.enviada_em, count=payload.quantidade)
    usage = Instance.objects.with_usage().get(pk=instance.pk)
    return {
        "instancia": instance.name,
        "contabilizada": counted,
        "quantidade": payload.quantidade if counted else 0,
        "uso": usage_of(usage),
    }
