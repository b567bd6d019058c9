"""``python manage.py create_api_key NAME``: issue an API key and print it once."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from instances.models import ApiKey


class Command(BaseCommand):
    help = "Cria uma chave de API (X-API-Key) e a mostra uma única vez."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="nome que identifica quem usa a chave")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("O nome da chave deve ter de 1 a 100 caracteres.")
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(f"Já existe uma chave chamada {name!r}; escolha outro nome ou revogue-a no admin.")
        _key, secret = ApiKey.issue(name)
        self.stdout.write(f"Chave de API {name!r} criada. Guarde-a agora; ela não será mostrada de novo:")
        self.stdout.write(secret)
