"""Writes about many instances where one instance's failure never costs the others.

Each instance's write runs in its own savepoint (so on PostgreSQL a failed statement does not
abort the transaction around it); a failure is logged and kept in ``errors`` (name -> error),
and the caller goes on. A batched UPDATE that fails is retried row by row, so only the bad row
is lost. Rows from the gateway are validated before they get here
(``instances.gateway.validation``): this is the last line, for what no validation foresaw.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from instances.gateway.validation import safe_label
from instances.models import Instance

logger = logging.getLogger("instances.checks")


def safely(errors: dict[str, str], name: str, write: Callable[[], Any]) -> bool:
    """Run one instance's write in its own savepoint; on any error log it, count it and go on."""
    try:
        with transaction.atomic():
            write()
    except Exception as exc:  # one row's failure must never abort the fleet's cycle
        logger.exception("could not record %s", safe_label(name))
        errors[name] = f"{type(exc).__name__}: {exc}"[:300]
        return False
    return True


def update_each(errors: dict[str, str], insts: list[Instance], value: Callable[[Instance], dict[str, Any]]) -> None:
    """The slow path of a batched UPDATE that failed: one guarded UPDATE per instance."""
    for inst in insts:
        safely(errors, inst.name, functools.partial(Instance.objects.filter(pk=inst.pk).update, **value(inst)))


def update_all(errors: dict[str, str], insts: list[Instance], **fields: Any) -> None:
    """One UPDATE for all of ``insts``; if it fails, one per instance so only the bad row is lost."""
    if not insts:
        return
    try:
        with transaction.atomic():
            Instance.objects.filter(pk__in=[i.pk for i in insts]).update(**fields)
    except Exception:
        logger.exception("batched update failed, retrying row by row")
        update_each(errors, insts, lambda _inst: fields)
