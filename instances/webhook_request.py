"""What reaches ``POST /webhooks/evolution`` over HTTP: who sent it, and its body.

Authentication (Evolution's signed token, else the shared secret) and reading the body (with or
without a Content-Length, up to a cap) are kept apart from what the events mean
(``instances.webhooks``).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import jwt
from django.conf import settings
from django.http import HttpRequest

# Media sent with ``webhook.base64`` on carries the file in the payload, well past Django's
# 2.5 MB request limit; a 4xx there would lose the count for good (Evolution does not retry
# it), so the body is read directly up to this cap.
MAX_BODY_BYTES = 32 * 1024 * 1024
# Reading a chunked body (no Content-Length) this much at a time, up to ``MAX_BODY_BYTES``.
READ_CHUNK_BYTES = 64 * 1024
# Evolution's webhook JWT lives 10 minutes; its clock may be this far off the portal's
# either way (a token "issued in the future" or "just expired" by that much still passes).
JWT_LEEWAY_SECONDS = 60
JWT_CLAIMS = {"app": "evolution", "action": "webhook"}


class WebhookError(Exception):
    """A request we refuse, with the HTTP status and the pt-BR ``detail`` to answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def authenticate(request: HttpRequest) -> None:
    """Accept Evolution's signed token, else the shared secret itself (``docs/evolution.md`` §4).

    A per-instance webhook whose ``headers`` hold ``"jwt_key": <secret>`` makes Evolution send
    ``Authorization: Bearer <JWT>``: HS256 signed with the secret, ``{"app": "evolution",
    "action": "webhook"}``, valid 10 minutes. When a bearer token is given it alone decides.
    Otherwise the secret itself, as ``X-Webhook-Secret`` (per-instance ``headers``) or
    ``?token=`` (the global webhook, which can send no headers).
    """
    secret = settings.EVOLUTION_WEBHOOK_SECRET
    if not secret:
        raise WebhookError(
            403, "Webhook desativado: o segredo (EVOLUTION_WEBHOOK_SECRET) não está configurado no portal."
        )
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        verify_jwt(token.strip(), secret)
        return
    given = request.headers.get("X-Webhook-Secret") or request.GET.get("token") or ""
    # Bytes, because compare_digest refuses non-ASCII str; constant time against guessing.
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise WebhookError(401, "Segredo do webhook ausente ou inválido (Authorization, X-Webhook-Secret ou ?token=).")


def verify_jwt(token: str, secret: str) -> None:
    """Refuse a token not signed with ``secret`` by HS256, expired, or minted for something else."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],  # never "none", never an algorithm the token itself picks
            leeway=JWT_LEEWAY_SECONDS,
            options={"require": ["exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise WebhookError(401, "Token do webhook expirado (Authorization: Bearer).") from None
    except jwt.InvalidTokenError:
        raise WebhookError(401, "Token do webhook inválido (Authorization: Bearer).") from None
    # Evolution always says who minted it and why; a token for anything else is not a webhook's.
    for claim, expected in JWT_CLAIMS.items():
        if claims.get(claim, expected) != expected:
            raise WebhookError(401, f"Token do webhook inválido: {claim} deveria ser {expected!r}.")


TOO_LARGE = "Corpo grande demais; desative o envio de mídia em base64 no webhook."


def read_json(request: HttpRequest) -> Any:
    raw = read_body(request)
    if not raw.strip():
        raise WebhookError(400, "Corpo vazio: envie o evento em JSON.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise WebhookError(400, "Corpo não é um JSON válido.") from None


def read_body(request: HttpRequest) -> bytes:
    """Return the request body, at most ``MAX_BODY_BYTES``, with or without a Content-Length."""
    if _is_chunked(request):
        return _read_chunked(request)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise WebhookError(400, "Content-Length inválido.") from None
    if length > MAX_BODY_BYTES:
        raise WebhookError(413, TOO_LARGE)
    return request.read()


def _is_chunked(request: HttpRequest) -> bool:
    encoding = request.META.get("HTTP_TRANSFER_ENCODING", "")
    return "chunked" in encoding.lower() and not request.META.get("CONTENT_LENGTH")


def _read_chunked(request: HttpRequest) -> bytes:
    """Read a ``Transfer-Encoding: chunked`` body from the server's own stream.

    Django reads a WSGI body only up to Content-Length, so without one it sees nothing; the
    server (gunicorn) has already undone the chunking in ``wsgi.input``. Under ASGI the body
    is complete in the request. A server that passes no body on (``runserver``) gets a 411,
    which Evolution retries: never a 400 that would drop the event for good.
    """
    stream = request.META.get("wsgi.input")
    if stream is None:
        raw = request.read()
    else:
        parts, size = [], 0
        while size <= MAX_BODY_BYTES and (part := stream.read(READ_CHUNK_BYTES)):
            parts.append(part)
            size += len(part)
        raw = b"".join(parts)
    if len(raw) > MAX_BODY_BYTES:
        raise WebhookError(413, TOO_LARGE)
    if not raw:
        raise WebhookError(
            411, "Corpo em partes (chunked) não recebido por este servidor: envie Content-Length ou use o gunicorn."
        )
    return raw
