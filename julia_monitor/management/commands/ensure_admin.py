"""``manage.py ensure_admin``: make sure someone can log in, without ever overwriting anyone.

With no superuser, it creates one (``admin`` by default) and prints the password once; the
password is random unless ``--password`` or the ``ADMIN_PASSWORD`` environment variable gives
one. With a superuser already there it changes nothing.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction


class Command(BaseCommand):
    help = "Cria o administrador inicial (se ainda não houver nenhum) e mostra a senha uma única vez."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default=None, help="padrão: env ADMIN_PASSWORD, senão uma aleatória")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        username = options["username"].strip()
        if not username:
            raise CommandError("--username não pode ser vazio")
        password = options["password"] or os.environ.get("ADMIN_PASSWORD") or None
        with transaction.atomic():
            existing = user_model.objects.filter(is_superuser=True).order_by("pk").first()
            if existing is not None:
                self.stdout.write(f"Já existe um administrador ({existing.get_username()}); nada a fazer.")
                return
            if user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).exists():
                raise CommandError(
                    f"o usuário {username!r} já existe mas não é administrador; use --username com outro nome"
                )
            shown = password is None
            password = password or secrets.token_urlsafe(12)
            user_model.objects.create_superuser(**{user_model.USERNAME_FIELD: username}, email="", password=password)
        if shown:
            self.stdout.write(f"Login: {username} / senha: {password}  (guarde-a; não será mostrada de novo)")
        else:
            self.stdout.write(f"Login: {username} / senha: a informada (--password ou ADMIN_PASSWORD)")
