"""Answer a clean 503 when the database cannot be reached, instead of a 500 with a stack trace.

A database restart or outage is not a bug: Evolution retries a webhook answered 503 (it drops
400/401/403/404/422 for good), a load balancer or a person tries again. Django already drops
a connection that failed this way at the end of the request, so the next one starts afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

DETAIL = "Banco de dados indisponível no momento; tente novamente em instantes."
RETRY_AFTER_SECONDS = 5
# Machine clients (the JSON API, Evolution's webhooks) always get JSON.
JSON_PATHS = ("/dashboard/", "/webhooks/")


class DatabaseUnavailableMiddleware:
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
        if request.path.startswith(JSON_PATHS) or "text/html" not in request.headers.get("Accept", ""):
            response = JsonResponse({"detail": DETAIL}, status=503)
        else:
            # No request context: rendering it would reach for the session and the user, in the database.
            response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
