"""What the gateway's list of instances changes here: new instances, phone numbers, the last disconnection.

Only rows that passed validation get here (``instances.gateway.validation``). Writes go in
batches (``instances.bulk_writes``); a batch that fails is retried row by row, each row guarded
(``instances.guarded``), so one row that still fails to save costs only itself.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction

from instances.bulk_writes import batches, update_rows
from instances.gateway import GatewayInstance
from instances.gateway.states import reason_for
from instances.guarded import safely
from instances.models import Instance

logger = logging.getLogger("instances.checks")


def discover(
    rows: dict[str, GatewayInstance], instances: dict[str, Instance], now: datetime, errors: dict[str, str]
) -> int:
    """Register instances the gateway has and we do not, with the default capacities."""
    new = [
        Instance(
            name=row.name,
            phone_number=row.phone_number,
            capacity_per_hour=settings.DEFAULT_CAPACITY_PER_HOUR,
            capacity_per_day=settings.DEFAULT_CAPACITY_PER_DAY,
            disconnection_code=row.disconnection_code,
            disconnection_at=row.disconnection_at,
            disconnection_reason=_reason(row),
            disconnection_seen_at=now if row.disconnection_code else None,
            # Not "created now": the first observation, stamped with the cycle's start, must
            # not look older than the status it replaces (record_status ignores those).
            status_since=now,
        )
        for name, row in rows.items()
        if name not in instances
    ]
    if not new:
        return 0
    # ignore_conflicts: an operator may have added the same name a moment ago.
    for batch in batches(new):
        try:
            with transaction.atomic():
                Instance.objects.bulk_create(batch, ignore_conflicts=True)
        except Exception:
            logger.exception("registering %d new instances failed, retrying one by one", len(batch))
            for inst in batch:
                safely(
                    errors, inst.name, functools.partial(Instance.objects.bulk_create, [inst], ignore_conflicts=True)
                )
    created = Instance.objects.filter(name__in=[inst.name for inst in new])
    instances.update({inst.name: inst for inst in created})
    return len([inst for inst in new if inst.name not in errors])


def _reason(row: GatewayInstance) -> str:
    if not row.disconnection_code:
        return ""
    code_reason = reason_for(row.disconnection_code)
    return (f"{code_reason}: {row.disconnection_reason}" if row.disconnection_reason else code_reason)[:300]


def sync_gateway_rows(
    rows: dict[str, GatewayInstance], instances: dict[str, Instance], now: datetime, errors: dict[str, str]
) -> None:
    """Fill an empty phone number and keep the gateway's last disconnection (an UPDATE per batch of changes).

    A (code, disconnectionAt) pair the portal has not stored is news, stamped with the
    portal's clock (unless the gateway dates it well before the number was last seen
    connected). A webhook reports the code without the gateway's date: when the row then
    shows the same code, it is the same close, only dated now.
    """
    changed: list[tuple[Instance, dict[str, object]]] = []
    for name, row in rows.items():
        inst = instances.get(name)
        if inst is None:
            continue
        fields: dict[str, object] = {}
        if not inst.phone_number and row.phone_number:
            fields["phone_number"] = row.phone_number
        # v1 rows have no disconnection fields: never clear what a webhook recorded.
        pair = (row.disconnection_code, row.disconnection_at)
        if row.disconnection_code and pair != inst.disconnection_pair:
            if row.disconnection_code == inst.disconnection_code and inst.disconnection_at is None:
                fields["disconnection_at"] = row.disconnection_at
            else:
                # A close the gateway dates well before we last saw the number connected is
                # news to us but not to the number: stored as already seen, never fresh.
                old = inst.is_old_close(row.disconnection_code, row.disconnection_at)
                fields.update(
                    disconnection_code=row.disconnection_code,
                    disconnection_at=row.disconnection_at,
                    disconnection_reason=_reason(row),
                    disconnection_seen_at=inst.last_seen_connected_at if old else now,
                )
        if fields:
            changed.append((inst, fields))
    for batch in batches(changed):
        try:
            with transaction.atomic():
                update_rows({inst.pk: fields for inst, fields in batch})
        except Exception:
            logger.exception("syncing %d gateway rows failed, retrying one by one", len(batch))
            batch = [(inst, fields) for inst, fields in batch if _update_one(inst, fields, errors)]
        for inst, fields in batch:
            for key, value in fields.items():
                setattr(inst, key, value)


def _update_one(inst: Instance, fields: dict[str, object], errors: dict[str, str]) -> bool:
    return safely(errors, inst.name, functools.partial(Instance.objects.filter(pk=inst.pk).update, **fields))
