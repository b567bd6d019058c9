"""The portal's own middleware: a clean 503 when the database is lost, and no-store answers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.template.loader import render_to_string

from julia_monitor.request_guard import JSON_PREFIXES

logger = logging.getLogger(__name__)

DETAIL = "Banco de dados indisponível no momento; tente novamente em instantes."
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    """A clean 503 when the database cannot be reached, instead of a 500 with a stack trace.

    A database restart or outage is not a bug: Evolution retries a webhook answered 503 (it drops
    400/401/403/404/422 for good), a load balancer or a person tries again. Django already drops
    a connection that failed this way at the end of the request, so the next one starts afresh.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # OperationalError: refused, terminated, or locked; InterfaceError: the connection was already closed.
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error("database unavailable, answered 503 to %s %s: %s", request.method, request.path, exception)
        response: HttpResponse
        if request.path.startswith(JSON_PREFIXES) or "text/html" not in request.headers.get("Accept", ""):
            response = JsonResponse({"detail": DETAIL}, status=503)
        else:
            # No request context: rendering it would reach for the session and the user, in the database.
            response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on every answer that does not say otherwise.

    The pages and the API show a fleet's live state to people logged in: no browser, proxy or
    shared computer should keep a copy (nor show a stale one on Back). Static files never reach
    here (WhiteNoise answers them first, with their own long caching); a view that sets its own
    ``Cache-Control`` keeps it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response
