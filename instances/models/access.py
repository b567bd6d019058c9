"""API keys for the JSON API: only a hash of each is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.http import HttpRequest


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKey(models.Model):
    """A key for the JSON API, sent as ``X-API-Key``; only its hash is stored."""

    name = models.CharField("nome", max_length=100, unique=True)
    prefix = models.CharField("prefixo", max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField("ativa", default=True)
    created_at = models.DateTimeField("criada em", auto_now_add=True)
    last_used_at = models.DateTimeField("último uso", null=True, blank=True)

    class Meta:
        verbose_name = "chave de API"
        verbose_name_plural = "chaves de API"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, name: str) -> tuple[ApiKey, str]:
        """Create a key; return it and the clear-text secret, which is never stored."""
        secret = "jm_" + secrets.token_urlsafe(32)
        key = cls.objects.create(name=name, prefix=secret[:10], key_hash=hash_api_key(secret))
        return key, secret

    @classmethod
    def authenticate(cls, secret: str) -> ApiKey | None:
        key = cls.objects.filter(key_hash=hash_api_key(secret), is_active=True).first()
        if key is not None and (key.last_used_at is None or timezone.now() - key.last_used_at > timedelta(minutes=1)):
            cls.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        return key

    @classmethod
    def of_request(cls, request: HttpRequest) -> ApiKey | None:
        """Return the key that authenticated an API request; None for a login session."""
        # django-ninja sets ``request.auth`` (whatever the authenticator returned); HttpRequest does not declare it.
        auth = getattr(request, "auth", None)
        return auth if isinstance(auth, cls) else None
