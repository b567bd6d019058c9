"""``manage.py create_user USERNAME --role visualizador|operador|administrador [--email E]``.

Creates a person with one of the portal's roles and prints the password once: random, or
the one in the ``NEW_USER_PASSWORD`` environment variable (never a command-line argument,
which would stay in the shell history and the process list).
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction

from julia_monitor.roles import ROLES, assign_role


def _one_line(error: ValidationError) -> str:
    return " ".join(error.messages)


class Command(BaseCommand):
    help = "Cria um usuário do portal com um papel (visualizador, operador ou administrador)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="nome de login")
        # Checked in handle(), not by argparse (required/choices), for a one-line error instead of a usage dump.
        parser.add_argument("--role", default="", help="visualizador, operador ou administrador")
        parser.add_argument("--email", default="", help="e-mail (opcional)")

    def handle(self, *args: Any, username: str, role: str, email: str, **options: Any) -> None:
        user_model = get_user_model()
        username, role, email = username.strip(), role.strip().lower(), email.strip()
        if not role:
            raise CommandError("informe o papel: --role visualizador, operador ou administrador")
        if role not in ROLES:
            raise CommandError(f"papel desconhecido {role!r}: use visualizador, operador ou administrador")
        if not username:
            raise CommandError("o nome de usuário não pode ser vazio")
        try:
            user_model.username_validator(username)
        except ValidationError as error:
            raise CommandError(f"nome de usuário {username!r} recusado: {_one_line(error)}") from None
        try:
            if email:
                validate_email(email)
        except ValidationError as error:
            raise CommandError(f"--email {email!r} recusado: {_one_line(error)}") from None
        given = os.environ.get("NEW_USER_PASSWORD", "")
        password = given or secrets.token_urlsafe(12)
        candidate = user_model(**{user_model.USERNAME_FIELD: username, "email": email})
        if given:
            try:
                validate_password(given, candidate)
            except ValidationError as error:
                raise CommandError(f"NEW_USER_PASSWORD recusada: {_one_line(error)}") from None
        with transaction.atomic():
            if user_model.objects.filter(**{f"{user_model.USERNAME_FIELD}__iexact": username}).exists():
                raise CommandError(f"o usuário {username!r} já existe; nada foi alterado")
            user = user_model.objects.create_user(
                **{user_model.USERNAME_FIELD: username}, email=email, password=password
            )
            group = assign_role(user, role)
        staff = " (com acesso ao admin)" if user.is_staff else ""
        self.stdout.write(f"Usuário {username!r} criado no grupo {group.name}{staff}.")
        if given:
            self.stdout.write("Senha: a de NEW_USER_PASSWORD.")
        else:
            self.stdout.write(f"Senha: {password}  (guarde-a; não será mostrada de novo)")
