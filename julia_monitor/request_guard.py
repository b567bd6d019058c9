"""Refuse a malformed address before anything reads it: one check for the whole site.

A NUL byte in ``/instancias/<nome>/`` or ``?instancia=`` reached PostgreSQL, which refuses NUL
in text, and the visitor got a 500. Every page, the JSON API and the webhook take names and
filters from the path and the query string, so they are checked here, first, once: control
characters (NUL, newline, ESC…), invalid UTF-8 and broken percent-encoding answer 400 with
a pt-BR reason. Bodies are each endpoint's business (forms, the API's schemas, the webhook's
parser).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template.loader import render_to_string

from julia_monitor.lib.text import has_invalid_characters

# Where answers are JSON: the API (its error shape is ``{"detail": …}``), the webhook and Slack's buttons.
JSON_PREFIXES = ("/dashboard/", "/webhooks/", "/slack/")
# "%" must start an escape of two hex digits; "%zz" or a trailing "%" is not a URL.
BROKEN_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

BAD_PATH = "Endereço inválido: o caminho contém caracteres de controle (como NUL)."
BAD_QUERY = (
    "Endereço inválido: os parâmetros (?…) contêm caracteres de controle (como NUL), "
    "codificação percentual quebrada ou texto que não é UTF-8 válido."
)


def problem(request: HttpRequest) -> str | None:
    """Return the pt-BR reason the request's path or query string is refused, or None if it is fine."""
    # Django has already turned invalid UTF-8 in the path back into "%FF" (harmless text that
    # matches no page: a 404); the control characters are still there.
    if has_invalid_characters(request.path_info):
        return BAD_PATH
    # The query string as the server received it: ``request.GET`` would have replaced invalid
    # UTF-8 with U+FFFD, hiding the problem.
    query = _raw(request, "QUERY_STRING")
    if BROKEN_PERCENT.search(query.decode("latin-1")):
        return BAD_QUERY
    # A "+" is a space in a query string; split on the separators first so an escaped "&" or "="
    # inside a value stays part of it.
    for pair in query.replace(b"+", b" ").split(b"&"):
        if not all(_is_clean(unquote_to_bytes(part)) for part in pair.split(b"=", 1)):
            return BAD_QUERY
    return None


def _raw(request: HttpRequest, key: str) -> bytes:
    value = str(request.META.get(key, ""))
    try:
        return value.encode("latin-1")  # WSGI (PEP 3333): the bytes, each as one latin-1 character
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")  # ASGI: the server already decoded it


def _is_clean(raw: bytes) -> bool:
    try:
        return not has_invalid_characters(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return False


def refusal(request: HttpRequest, detail: str) -> HttpResponse:
    if request.path_info.startswith(JSON_PREFIXES):
        return JsonResponse({"detail": detail}, status=400)
    # Rendered without the request: nothing here may touch the session, the user or the database.
    return HttpResponseBadRequest(render_to_string("400.html", {"detail": detail}))


class RejectMalformedAddressMiddleware:
    """Answer 400 to a path or query string with control characters or invalid encoding."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        detail = problem(request)
        if detail is not None:
            return refusal(request, detail)
        return self.get_response(request)
