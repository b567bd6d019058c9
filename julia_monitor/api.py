"""The /dashboard JSON API: one NinjaAPI, authenticated by API key or login session."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.parser import Parser
from ninja.renderers import JSONRenderer
from ninja.security import APIKeyHeader, django_auth

from instances.models import ApiKey


class ApiKeyAuth(APIKeyHeader):
    """``X-API-Key: <key>``; tried before the session so a keyed POST skips CSRF."""

    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiKey | None:
        if not key:
            return None
        return ApiKey.authenticate(key)


class LenientJsonParser(Parser):
    """JSON bodies as usual; an empty body or a plain form post (a button on a page) is
    read as an object too, so actions like ``POST …/ack`` need no JSON."""

    FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")

    def parse_body(self, request: HttpRequest) -> dict:
        if request.content_type in self.FORM_TYPES:
            return request.POST.dict()
        return super().parse_body(request) if request.body.strip() else {}


class Utf8JsonRenderer(JSONRenderer):
    """Portuguese text as UTF-8 ("não"), not as \\u escapes."""

    json_dumps_params = {"ensure_ascii": False}


api = NinjaAPI(
    title="Julia Monitor",
    version="1",
    description="Estado da frota de instâncias WhatsApp, uso e alertas.",
    urls_namespace="dashboard",
    auth=[ApiKeyAuth(), django_auth],
    # The schema and the Swagger page are for people logged in, like everything but health.
    docs_decorator=login_required,
    parser=LenientJsonParser(),
    renderer=Utf8JsonRenderer(),
)

api.add_router("/", "julia_monitor.health.router")
api.add_router("/", "instances.api.router")
api.add_router("/", "alerts.api.router")

# What django-ninja itself refuses before our code runs, said in the product's language.
FRAMEWORK_MESSAGES = {
    "Unauthorized": "Não autenticado: envie o cabeçalho X-API-Key ou entre no portal.",
    "Forbidden": "Sem permissão.",
    "Cannot parse request body": "O corpo da requisição não é um JSON válido.",
    "CSRF check Failed": "Falha na verificação CSRF: envie o token CSRF da sessão ou use X-API-Key.",
}


@api.exception_handler(HttpError)
def http_error_in_portuguese(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc)
    translated = next((pt for en, pt in FRAMEWORK_MESSAGES.items() if message.startswith(en)), message)
    return api.create_response(request, {"detail": translated}, status=exc.status_code)
