"""Response headers every page and API answer of the portal carries."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase


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
