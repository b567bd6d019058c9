"""Access to the portal: API keys for the JSON API (only a hash of each is stored) and the audit of access changes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
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


class AccessChange(models.Model):
    """One change to who may do what, made in the admin: keys, people, groups, unlocks. Append-only."""

    class Kind(models.TextChoices):
        API_KEY_CREATED = "api_key_created", "Chave de API criada"
        API_KEY_REVOKED = "api_key_revoked", "Chave de API revogada"
        API_KEY_CHANGED = "api_key_changed", "Chave de API alterada"
        API_KEY_DELETED = "api_key_deleted", "Chave de API apagada"
        USER_CREATED = "user_created", "Usuário criado"
        USER_CHANGED = "user_changed", "Acesso de usuário alterado"
        PASSWORD_CHANGED = "password_changed", "Senha alterada"
        USER_DELETED = "user_deleted", "Usuário apagado"
        GROUP_CREATED = "group_created", "Grupo criado"
        GROUP_CHANGED = "group_changed", "Grupo alterado"
        GROUP_DELETED = "group_deleted", "Grupo apagado"
        LOGIN_UNLOCKED = "login_unlocked", "Login desbloqueado"

    # The name is kept apart from the link: the row must still say who when that login is gone.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+", verbose_name="usuário"
    )
    actor_name = models.CharField("quem", max_length=150)
    kind = models.CharField("ação", max_length=20, choices=Kind.choices)
    target = models.CharField("em", max_length=200)
    detail = models.TextField("o que mudou", blank=True)
    created_at = models.DateTimeField("quando", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "alteração de acesso"
        verbose_name_plural = "auditoria de acesso"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.target}"

    @classmethod
    def record(cls, actor: AbstractBaseUser, kind: AccessChange.Kind, target: object, detail: str = "") -> AccessChange:
        return cls.objects.create(
            actor=actor, actor_name=actor.get_username(), kind=kind, target=str(target)[:200], detail=detail
        )
