"""The /dashboard JSON API: one NinjaAPI, authenticated by API key or login session."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.security import APIKeyHeader, django_auth

from instances.models import ApiKey


class ApiKeyAuth(APIKeyHeader):
    """``X-API-Key: <key>``; tried before the session so a keyed POST skips CSRF."""

    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiKey | None:
        if not key:
            return None
        return ApiKey.authenticate(key)


api = NinjaAPI(
    title="Julia Monitor",
    version="1",
    description="Estado da frota de instâncias WhatsApp, uso e alertas.",
    urls_namespace="dashboard",
    auth=[ApiKeyAuth(), django_auth],
)

api.add_router("/", "julia_monitor.health.router")
api.add_router("/", "instances.api.router")
api.add_router("/", "instances.usage_api.router")
