"""``GET /dashboard/medicos``: the doctors, the number each is on, and the last time each was moved."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from instances.models import Doctor, DoctorMove, Instance
from julia_monitor.lib.api_shapes import Erro, Linha

router = Router(tags=["médicos"])


class MedicosFiltro(Schema):
    instancia: Linha | None = Field(None, max_length=100)
    pagina: int = Field(1, ge=1, le=1_000_000)
    por_pagina: int = Field(50, ge=1, le=500)


class MovimentoOut(Schema):
    de: str | None
    para: str | None
    em: datetime
    motivo: str


class MedicoOut(Schema):
    nome: str
    telefone: str
    instancia: str | None
    ultima_migracao: MovimentoOut | None


class MedicosOut(Schema):
    total: int
    pagina: int
    por_pagina: int
    medicos: list[MedicoOut]


def _move(move: DoctorMove | None) -> dict | None:
    if move is None:
        return None
    return {
        "de": move.from_instance.name if move.from_instance else None,
        "para": move.to_instance.name if move.to_instance else None,
        "em": timezone.localtime(move.created_at),
        "motivo": move.reason,
    }


@router.get("/medicos", response={200: MedicosOut, 404: Erro}, summary="Médicos e a instância de cada um")
def list_doctors(request: HttpRequest, filtro: Query[MedicosFiltro]) -> dict:
    doctors = Doctor.objects.select_related("preferred_instance").order_by("name", "pk")
    if filtro.instancia is not None:
        instance = Instance.objects.filter(name=filtro.instancia).first()
        if instance is None:
            raise HttpError(404, "Instância não encontrada")
        doctors = doctors.filter(preferred_instance=instance)
    total = doctors.count()
    start = (filtro.pagina - 1) * filtro.por_pagina
    page = list(doctors[start : start + filtro.por_pagina])
    latest: dict[int, DoctorMove] = {}
    moves = DoctorMove.objects.filter(doctor__in=page).select_related("from_instance", "to_instance")
    for move in moves.order_by("-created_at", "-pk"):
        latest.setdefault(move.doctor_id, move)
    return {
        "total": total,
        "pagina": filtro.pagina,
        "por_pagina": filtro.por_pagina,
        "medicos": [
            {
                "nome": d.name,
                "telefone": d.phone_number,
                "instancia": d.preferred_instance.name if d.preferred_instance else None,
                "ultima_migracao": _move(latest.get(d.pk)),
            }
            for d in page
        ],
    }
