"""Direct usage reporting, for senders that are not behind Evolution webhooks.

``POST /dashboard/instances/{nome}/uso`` counts messages an instance sent. With ``id_mensagem``
it is idempotent, and shares the de-duplication of the webhooks: a message reported here and
also seen as ``send.message`` with the same id is counted once. Only an API key or a person
allowed to report usage (operators, administrators) may post: a viewer could inflate the counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from ninja.errors import HttpError
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic_core import PydanticCustomError

from instances.models import ApiKey, Instance

router = Router(tags=["uso"])

MAX_QUANTITY = 1000
FUTURE_TOLERANCE = timedelta(minutes=5)


class UsageIn(BaseModel):
    """Messages sent by one instance; errors are raised with pt-BR messages for the client.

    A plain pydantic model, not a ninja Schema: Schema wraps the input in a getter object
    before the validators run, which hides the body from the checks below.
    """

    model_config = ConfigDict(extra="forbid")

    quantidade: int = 1
    id_mensagem: str | None = None
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


class UsoOut(Schema):
    msgs_hora: int
    msgs_dia: int
    carga_pct: float


class UsageOut(Schema):
    instancia: str
    contabilizada: bool
    quantidade: int
    uso: UsoOut


class ErrorOut(Schema):
    detail: str


REPORT_USAGE_PERMISSION = "instances.report_usage"


def require_reporter(request: HttpRequest) -> None:
    """Reporting usage needs an API key or a person allowed to report it (not a viewer)."""
    if not isinstance(request.auth, ApiKey) and not request.user.has_perm(REPORT_USAGE_PERMISSION):
        raise HttpError(403, "Você não tem permissão para registrar mensagens enviadas.")


@router.post(
    "/instances/{nome}/uso",
    response={200: UsageOut, 403: ErrorOut, 404: ErrorOut},
    summary="Registrar mensagens enviadas",
    description="Conta mensagens enviadas pela instância. Idempotente quando `id_mensagem` é informado: "
    'uma repetição responde 200 com `"contabilizada": false`.',
)
def report_usage(request: HttpRequest, nome: str, payload: UsageIn) -> dict[str, Any]:
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
        "uso": {"msgs_hora": usage.msgs_hour, "msgs_dia": usage.msgs_day, "carga_pct": round(usage.load_pct, 1)},
    }
