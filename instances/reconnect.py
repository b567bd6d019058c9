"""Reconnecting an instance from its page: ask the gateway for a QR code, then watch it come back.

Every request is an ``OperatorAction`` (who, when, what the gateway said), failures included.
The QR code is handed to the next page view through the session (post/redirect/get), so a
reload never asks the gateway for another code behind the operator's back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import caches
from django.db import models
from django.utils import timezone

from instances.gateway import EvolutionClient, GatewayUnavailable, InstanceRequestFailed
from instances.gateway.states import Observation, resolve
from instances.models import Instance, OperatorAction, Status
from julia_monitor.lib import text
from julia_monitor.lib.circuits import CircuitBreaker

logger = logging.getLogger(__name__)

# The state endpoint asks the gateway about one instance at most this often; the page polls
# every 3 s, and several operators may watch the same instance.
PROBE_MIN_INTERVAL_SECONDS = 5
# A real QR PNG is a few kB; anything much larger is not a QR code and not kept in the session.
MAX_QR_CHARS = 200_000
SESSION_KEY = "fleet:reconnect"


class Outcome(models.TextChoices):
    QR = "qr", "QR code gerado"
    ALREADY_CONNECTED = "already_connected", "já estava conectada"
    NO_QR = "no_qr", "gateway não gerou QR code"
    FAILED = "failed", "falhou"


@dataclass(frozen=True)
class ReconnectResult:
    outcome: Outcome
    message: str
    action: OperatorAction
    qr: str = ""
    pairing_code: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.QR, Outcome.ALREADY_CONNECTED)


def _qr_image(value: Any) -> str:
    """Return the QR as a ``data:image/…`` URL, or "" if the gateway sent something else."""
    if isinstance(value, str) and value.startswith("data:image/") and len(value) <= MAX_QR_CHARS:
        return value
    return ""


def _pairing_code(value: Any) -> str:
    return value.strip()[:32] if isinstance(value, str) else ""


def _record(instance: Instance, user: Any, detail: str) -> OperatorAction:
    return OperatorAction.objects.create(
        kind=OperatorAction.Kind.RECONNECT, user=user, instance=instance, detail=detail[:300]
    )


def request_reconnect(instance: Instance, user: Any, client: EvolutionClient | None = None) -> ReconnectResult:
    """Ask the gateway to start pairing ``instance`` (``GET /instance/connect/{name}``).

    Evolution answers the QR object, or the state object when the instance is already open
    (docs/evolution.md §2.3); a stuck session answers ``{"count": 0}`` with no code at all.
    """
    client = client or EvolutionClient()
    try:
        body = client.connect(instance.name)
    except GatewayUnavailable as exc:
        action = _record(instance, user, f"{Outcome.FAILED.label}: {exc}")
        message = (
            f"Não foi possível falar com o gateway ({exc.kind.label}). Nada foi alterado; tente de novo em instantes."
        )
        return ReconnectResult(Outcome.FAILED, message, action)
    except InstanceRequestFailed as exc:
        action = _record(instance, user, f"{Outcome.FAILED.label}: {exc}")
        message = f"O gateway recusou a reconexão de {instance.name}: {exc}. Nada foi alterado."
        return ReconnectResult(Outcome.FAILED, message, action)

    state = body.get("instance", {}).get("state") if isinstance(body.get("instance"), dict) else None
    if state == "open":
        instance.observe(Observation(Status.CONNECTED, "gateway confirmou conexão ao pedir reconexão"))
        action = _record(instance, user, Outcome.ALREADY_CONNECTED.label)
        return ReconnectResult(Outcome.ALREADY_CONNECTED, f"{instance.name} já está conectada.", action)

    qr, pairing_code = _qr_image(body.get("base64")), _pairing_code(body.get("pairingCode"))
    count = body.get("count")
    attempt = f" (n.º {count})" if isinstance(count, int) and not isinstance(count, bool) else ""
    if not qr and not pairing_code:
        action = _record(instance, user, f"{Outcome.NO_QR.label}{attempt}")
        message = (
            f"O gateway não gerou um QR code para {instance.name} agora. Tente de novo em alguns segundos; "
            "se continuar assim, a sessão da instância precisa ser recriada no gateway."
        )
        return ReconnectResult(Outcome.NO_QR, message, action)
    detail = Outcome.QR.label + (" e código de pareamento" if pairing_code else "") + attempt
    action = _record(instance, user, detail)
    message = f"Leia o QR code com o WhatsApp do aparelho de {instance.name}."
    return ReconnectResult(Outcome.QR, message, action, qr=qr, pairing_code=pairing_code)


# --- Handing the QR code to the next page view ------------------------------------------------


def remember_pending(session: SessionBase, instance: Instance, result: ReconnectResult) -> None:
    pending = dict(session.get(SESSION_KEY, {}))
    pending[str(instance.pk)] = {
        "qr": result.qr,
        "pairing_code": result.pairing_code,
        "at": result.action.created_at.isoformat(),
    }
    session[SESSION_KEY] = pending


def pop_pending(session: SessionBase, instance: Instance) -> dict[str, str] | None:
    pending = dict(session.get(SESSION_KEY, {}))
    found = pending.pop(str(instance.pk), None)
    if found is not None:
        session[SESSION_KEY] = pending
    return found


# --- A live look at one instance, for the state endpoint -------------------------------------


def _claim_probe(instance: Instance, now: datetime) -> bool:
    """Return True if nobody probed this instance in the last few seconds (and claim it).

    ``add`` claims atomically in the usual case; the timestamp inside also lets a claim older
    than the interval be taken over, whatever the cache backend does with expiry.
    """
    cache = caches["default"]
    key, stamp = f"fleet:probe:{instance.pk}", now.timestamp()
    try:
        if cache.add(key, stamp, timeout=PROBE_MIN_INTERVAL_SECONDS * 2):
            return True
        last = cache.get(key)
        if last is not None and stamp - float(last) < PROBE_MIN_INTERVAL_SECONDS:
            return False
        cache.set(key, stamp, timeout=PROBE_MIN_INTERVAL_SECONDS * 2)
        return True
    except Exception:  # the page keeps answering from the database if the cache is down
        logger.warning(
            "fleet: probe throttle unavailable, not probing %s",
            text.one_line(instance.name),
            exc_info=True,
            extra={"instance": instance.name},
        )
        return False


def probe_now(instance: Instance, client: EvolutionClient | None = None) -> bool:
    """Probe the gateway for this one instance and record what it says; return True if it answered.

    Throttled per instance, and skipped while the gateway's circuit is open (the check cycle
    owns the circuit and the failure counts: a page being watched must not raise the
    "consecutive failures" alert faster than the minute's cycle would).
    """
    now = timezone.now()
    if not _claim_probe(instance, now) or not CircuitBreaker("gateway").allow():
        return False
    client = client or EvolutionClient()
    result = client.probe_all([instance.name]).get(instance.name)
    if result is None or not result.ok:
        return False
    instance.observe(resolve(result.state, result.code, instance), now)
    return True
