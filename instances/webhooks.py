"""Evolution webhook ingestion: sent messages and status changes pushed by the gateway.

``POST /webhooks/evolution`` takes Evolution's envelope ``{"event", "instance", "data", ...}``
from per-instance and global webhooks alike (``docs/evolution.md`` §4). It
answers fast and never calls out: Evolution waits on us and retries every answer except
400/401/403/404/422, so a slow or failing portal would make it pile up retries.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from instances.gateway.parsing import parse_datetime
from instances.gateway.states import Observation, observed_live
from instances.gateway.validation import name_problem, safe_label
from instances.models import Instance, Status
from instances.webhook_request import WebhookError, authenticate, read_json
from julia_monitor.lib.text import has_invalid_characters, one_line

log = logging.getLogger(__name__)

# Phone and server clocks drift; a timestamp this far ahead is still "now", beyond it is junk.
FUTURE_TOLERANCE = timedelta(minutes=5)

SEND_MESSAGE = "send.message"
MESSAGES_UPSERT = "messages.upsert"
CONNECTION_UPDATE = "connection.update"
STATUS_INSTANCE = "status.instance"
LOGOUT_INSTANCE = "logout.instance"


class IgnoredEvent(Exception):
    """A well-formed event the portal cannot use (e.g. a name with a NUL): answered 200, logged, dropped.

    A 2xx on purpose: Evolution retries every 5xx (and most 4xx), and the same bytes would only
    come back, forever.
    """

    def __init__(self, detail: str, note: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.note = note  # for the log: what exactly was refused, escaped


@dataclass(frozen=True)
class Envelope:
    event: str
    instance: str
    data: Any


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    at: datetime


def normalize_event(name: str) -> str:
    """Return the payload form (``send.message``) of any of Evolution's spellings of an event."""
    return name.strip().lower().replace("_", ".").replace("-", ".")


@csrf_exempt
def evolution_webhook(request: HttpRequest) -> JsonResponse:
    try:
        if request.method != "POST":
            response = JsonResponse({"detail": "Método não permitido: use POST."}, status=405)
            response["Allow"] = "POST"
            return response
        authenticate(request)
        return JsonResponse(ingest(parse_envelope(read_json(request)), timezone.now()))
    except WebhookError as exc:
        return JsonResponse({"detail": exc.detail}, status=exc.status)
    except IgnoredEvent as exc:
        log.warning("Webhook ignorado: %s %s", exc.detail, exc.note)
        return JsonResponse({"ok": True, "ignorado": True, "detail": exc.detail})


def parse_envelope(payload: Any) -> Envelope:
    if not isinstance(payload, dict):
        raise WebhookError(400, "O corpo deve ser um objeto JSON com os campos event, instance e data.")
    event, instance = payload.get("event"), payload.get("instance")
    if not isinstance(event, str) or not event.strip():
        raise WebhookError(400, "Campo obrigatório ausente ou inválido: event.")
    if not isinstance(instance, str) or not instance.strip():
        raise WebhookError(400, "Campo obrigatório ausente ou inválido: instance.")
    problem = name_problem(instance)
    if problem:
        # Held to the rule the gateway's own rows are: no instance of ours can have such a name.
        raise IgnoredEvent(
            f"Nome de instância inválido ({problem}): evento ignorado.",
            f"(evento {safe_label(event)}, instância {safe_label(instance)})",
        )
    return Envelope(event=normalize_event(event), instance=instance, data=payload.get("data"))


def ingest(envelope: Envelope, now: datetime) -> dict[str, Any]:
    """Record one event; return the answer body. The payload is fully parsed before any write."""
    parser = PARSERS.get(envelope.event)
    if parser is None:
        return {"ok": True, "ignorado": True}
    parsed = parser(envelope, now)
    if not parsed:  # only incoming messages, or a state we do not know: nothing to record
        return {"ok": True, "ignorado": True}
    # Only what recording needs: this lookup runs for every counted message.
    instance = Instance.objects.only("id", "name", "status").filter(name=envelope.instance).first()
    if instance is None:
        # Answer 2xx: the event itself is fine, and the check cycle discovers new instances
        # (giving them capacities) from the gateway within a minute. Creating one here would
        # also let any sender of a stray name add rows the poller can never find.
        log.warning("Webhook %s de instância desconhecida %r ignorado", one_line(envelope.event), envelope.instance)
        return {"ok": True, "ignorado": True, "detail": "Instância desconhecida."}
    if isinstance(parsed, Observation):
        # Dated on arrival, by the portal's clock (the gateway's only tells closes apart).
        change = instance.observe(parsed, now)
        return {"ok": True, "evento": envelope.event, "status": instance.status, "mudou": change is not None}
    counted = sum(instance.record_sent(message.message_id, message.at) for message in parsed)
    return {"ok": True, "evento": envelope.event, "contabilizadas": counted, "repetidas": len(parsed) - counted}


# --- Sent messages ------------------------------------------------------------------------


def parse_send_message(envelope: Envelope, now: datetime) -> list[OutgoingMessage]:
    # send.message only ever reports our own sends (``fromMe`` is always true).
    return [sent for item in message_items(envelope.data) if (sent := parse_message(item, now))]


def parse_messages_upsert(envelope: Envelope, now: datetime) -> list[OutgoingMessage]:
    # Upserts are mostly incoming messages; only ones typed on the phone (fromMe) are sends.
    return [
        sent
        for item in message_items(envelope.data)
        if item["key"].get("fromMe") is True and (sent := parse_message(item, now))
    ]


def message_items(data: Any) -> list[dict[str, Any]]:
    """Return the messages of ``data``: one object, a list of them, or ``{"messages": [...]}``."""
    if isinstance(data, dict) and "key" not in data and isinstance(data.get("messages"), list):
        data = data["messages"]
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), dict):
            raise WebhookError(400, "data deve ser uma mensagem (objeto com key) ou uma lista delas.")
    return items


def parse_message(item: dict[str, Any], now: datetime) -> OutgoingMessage | None:
    message_id = item["key"].get("id")
    if isinstance(message_id, int) and not isinstance(message_id, bool):
        message_id = str(message_id)
    if not isinstance(message_id, str) or not message_id.strip():
        # Without an id a gateway retry would count twice; Evolution always sends one.
        log.warning("Mensagem sem key.id no webhook ignorada")
        return None
    if has_invalid_characters(message_id):
        # Not a message id Evolution makes (and PostgreSQL refuses NUL): skip it, count the rest.
        log.warning("Mensagem com key.id inválido %r no webhook ignorada", message_id[:64])
        return None
    at = sane_time(epoch_seconds(item.get("messageTimestamp")), now)
    if at is None:
        # Older than the de-duplication window: a replay (or a history sync) we can no longer
        # recognise, and not this hour's sending either. Counting it would inflate the hour.
        log.warning("Mensagem %s mais antiga que a janela de de-duplicação ignorada", one_line(message_id.strip()[:64]))
        return None
    return OutgoingMessage(message_id=message_id.strip(), at=at)


def epoch_seconds(value: Any) -> float | None:
    """Return a ``messageTimestamp`` in epoch seconds, or None if it is not one.

    Baileys sends a number, a numeric string, or a protobuf Long ``{"low", "high"}``.
    """
    if isinstance(value, dict) and isinstance(value.get("low"), int) and isinstance(value.get("high"), int):
        value = (value["high"] << 32) + (value["low"] & 0xFFFFFFFF)
    elif isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)  # an integer past a float's range is junk, not a crash
    except OverflowError:
        return None
    if not math.isfinite(seconds):
        return None
    return seconds / 1000 if seconds > 1e11 else seconds  # milliseconds, from some senders


def sane_time(seconds: float | None, now: datetime) -> datetime | None:
    """Return when a message was sent: its timestamp if plausible, else ``now`` (the receive time);
    None when it is older than the de-duplication window.

    Never the envelope's ``date_time``: Evolution stamps it with the server's local clock and
    a ``Z`` suffix, so it is hours off whenever the server is not on UTC.
    """
    if seconds is None:
        return now
    try:
        at = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return now
    if at < now - timedelta(days=settings.MESSAGE_ID_RETENTION_DAYS):
        return None
    if at > now + FUTURE_TOLERANCE:
        return now
    return min(at, now)


# --- Status -------------------------------------------------------------------------------


def parse_connection_update(envelope: Envelope, now: datetime) -> Observation | None:
    data = require_object(envelope.data)
    state = data.get("state")
    if not isinstance(state, str):
        raise WebhookError(400, "connection.update sem data.state.")
    return observed_live(state, status_code(data.get("statusReason")))


def parse_status_instance(envelope: Envelope, now: datetime) -> Observation | None:
    data = require_object(envelope.data)
    state = data.get("status")
    if not isinstance(state, str):
        raise WebhookError(400, "status.instance sem data.status.")
    # disconnectionAt (the gateway's clock) only tells one close from another, so a retry of
    # an old close is known.
    seen = observed_live(state, status_code(data.get("disconnectionReasonCode")))
    if seen is None or seen.code is None:
        return seen
    return replace(seen, code_at=storable(parse_datetime(data.get("disconnectionAt"))))


def parse_logout_instance(envelope: Envelope, now: datetime) -> Observation:
    return Observation(Status.DISCONNECTED, "logout")


def require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise WebhookError(400, "data deve ser um objeto.")
    return data


def storable(at: datetime | None) -> datetime | None:
    """Return ``at`` if the database can store it: "0001-01-01T00:00+01:00" is before year 1 in UTC."""
    if at is None:
        return None
    try:
        at.astimezone(UTC)
    except OverflowError:
        return None
    return at


def status_code(value: Any) -> int | None:
    # ASCII only: "²" is a digit to ``isdigit`` but not to ``int``.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 999:
        return None
    return value


PARSERS: dict[str, Callable[[Envelope, datetime], Any]] = {
    SEND_MESSAGE: parse_send_message,
    MESSAGES_UPSERT: parse_messages_upsert,
    CONNECTION_UPDATE: parse_connection_update,
    STATUS_INSTANCE: parse_status_instance,
    LOGOUT_INSTANCE: parse_logout_instance,
}
