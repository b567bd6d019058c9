"""``manage.py deliver_notifications``: one delivery pass now (or ``--loop`` until Ctrl-C)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from alerts.delivery import DEFAULT_MAX_MESSAGES, DeliveryReport, deliver_due

# Between passes in --loop; a module attribute so tests can stand in for the clock.
wait = time.sleep


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(raw: str) -> int | float:
        try:
            value = kind(raw)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"esperava um número positivo, recebeu {raw!r}")
        return value

    return parse


class Command(BaseCommand):
    help = "Entrega agora as notificações pendentes (Slack, e-mail, log) e mostra o resumo da passada."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="repete a passada até Ctrl-C")
        parser.add_argument(
            "--interval", type=_positive(float), default=5.0, help="segundos entre passadas com --loop (padrão 5)"
        )
        parser.add_argument(
            "--max-messages",
            type=_positive(int),
            default=DEFAULT_MAX_MESSAGES,
            help=f"mensagens por canal em cada passada (padrão {DEFAULT_MAX_MESSAGES})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["loop"]:
            try:
                self.stdout.write(str(self._pass(options["max_messages"])))
            except DatabaseError as exc:
                raise CommandError(f"banco de dados indisponível: {exc}") from exc
            return
        self.stdout.write(f"Entregando a cada {options['interval']:g} s; Ctrl-C para parar.")
        try:
            while True:
                try:
                    report = self._pass(options["max_messages"])
                except DatabaseError as exc:
                    # The database may come back: keep looping, say so once per pass.
                    self.stderr.write(f"{timezone.localtime():%H:%M:%S} banco de dados indisponível: {exc}")
                else:
                    if report != DeliveryReport():
                        self.stdout.write(f"{timezone.localtime():%H:%M:%S} {report}")
                wait(options["interval"])
        except KeyboardInterrupt:
            # Rows claimed by an interrupted pass are released by it or fall due when the lease ends.
            self.stdout.write("Encerrado.")

    def _pass(self, max_messages: int) -> DeliveryReport:
        return deliver_due(max_messages=max_messages)
