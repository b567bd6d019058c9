"""``manage.py check_instances``: run one check cycle now and print its summary line."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from instances.checks import run_cycle


class Command(BaseCommand):
    help = "Verifica agora todas as instâncias no gateway Evolution e registra as mudanças de status."

    def handle(self, *args: Any, **options: Any) -> None:
        # The command prints the summary itself; the cycle's own log line would only repeat it.
        cycle_logger = logging.getLogger("instances.checks")
        level = cycle_logger.level
        cycle_logger.setLevel(logging.ERROR)
        try:
            # An explicit run always asks the gateway, even with its circuit open.
            summary = run_cycle(force=True)
        finally:
            cycle_logger.setLevel(level)
        if not summary.gateway_ok:
            # CommandError: one line on stderr and exit code 1, no traceback.
            raise CommandError(str(summary))
        self.stdout.write(str(summary))
