"""The /dashboard JSON API: one NinjaAPI, authenticated by API key or login session.

Errors, their shape and their place in the schema are in ``julia_monitor/api_errors.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import JSONRenderer
from ninja.security import APIKeyHeader, SessionAuth

from instances.models import ApiKey
from julia_monitor.api_errors import (
    API_KEY_HEADER,
    UNAUTHENTICATED,
    document_errors,
    error_response,
    http_error,
    validation_error,
)


class ApiKeyAuth(APIKeyHeader):
    """``X-API-Key: <key>``; tried before the session so a keyed POST skips CSRF."""

    param_name = API_KEY_HEADER

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiKey | None:
        if not key:
            return None
        return ApiKey.authenticate(key)


class LoginSession(SessionAuth):
    """A person logged in to the portal; their unsafe requests must carry the CSRF token.

    django-ninja's ``SessionAuth`` checks CSRF before it looks for a login, so a request with
    no login at all (or a wrong key) was refused as a CSRF failure (403) instead of as not
    authenticated (401). Without a login there is no session to protect: this one passes.
    """

    def _get_key(self, request: HttpRequest) -> str | None:
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)


class LenientJsonParser(Parser):
    """JSON bodies as usual; an empty body or a plain form post (a button on a page) is
    read as an object too, so actions like ``POST …/ack`` need no JSON."""

    FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")

    def parse_body(self, request: HttpRequest) -> Any:
        if request.content_type in self.FORM_TYPES:
            return request.POST.dict()
        return super().parse_body(request) if request.body.strip() else {}


class Utf8JsonRenderer(JSONRenderer):
    """Portuguese text as UTF-8 ("não"), not as \\u escapes."""

    json_dumps_params = {"ensure_ascii": False}


def key_or_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The schema and the Swagger page, for a valid API key or a login (not for anyone else).

    A browser without a login goes to the login page; a wrong key is a 401 like anywhere in the API.
    """

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = request.headers.get(API_KEY_HEADER)
        if key and ApiKey.authenticate(key) is not None:
            return view(request, *args, **kwargs)
        if key:
            return error_response(401, UNAUTHENTICATED)
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        return redirect_to_login(request.get_full_path())

    return guarded


class PortalApi(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        return document_errors(super().get_openapi_schema(**kwargs))


api = PortalApi(
    title="Julia Monitor",
    version="1",
    description="Estado da frota de instâncias WhatsApp, uso e alertas. "
    f'Erros: sempre JSON `{{"detail": "…"}}`; envie o cabeçalho `{API_KEY_HEADER}` ou entre no portal.',
    urls_namespace="dashboard",
    auth=[ApiKeyAuth(), LoginSession()],
    docs_decorator=key_or_login_required,
    parser=LenientJsonParser(),
    renderer=Utf8JsonRenderer(),
)

api.add_router("/", "julia_monitor.health.router")
api.add_router("/", "instances.api.router")
api.add_router("/", "alerts.api.router")
api.add_router("/", "alerts.maintenance_api.router")
api.add_router("/", "instances.doctors_api.router")
api.exception_handler(HttpError)(http_error)
api.exception_handler(ValidationError)(validation_error)
