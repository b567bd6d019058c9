"""The ban alert and the migration of the banned number's doctors (``instances.doctor_moves``).

``evaluate()`` migrates a newly banned number's doctors before it reads the conditions, so the
ban alert opens already saying where they went; afterwards each migration batch of a banned
number is told once in its open ban alert's timeline (one event per batch).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F

from alerts.choices import EventKind, Rule
from alerts.models import Alert, AlertEvent
from instances.doctor_moves import migrate_banned
from instances.models import MigrationBatch, Status
from instances.pages import open_unstable_ids


def migrate_banned_doctors(now: datetime) -> list[MigrationBatch]:
    return migrate_banned(now, unstable=open_unstable_ids())


def note_batches(now: datetime) -> int:
    """Add one "Médicos migrados" event per untold batch of this ban to the instance's open ban alert."""
    batches = MigrationBatch.objects.filter(
        noted_on_alert=False,
        instance__status=Status.BANNED,
        created_at__gte=F("instance__status_since"),
    ).select_related("instance", "user")
    if not batches:
        return 0
    alerts = {
        a.instance_id: a
        for a in Alert.objects.open().filter(rule=Rule.INSTANCE_BANNED, instance__in=[b.instance_id for b in batches])
    }
    noted = 0
    for batch in batches:
        alert = alerts.get(batch.instance_id)
        if alert is None:
            continue
        with transaction.atomic():
            # Claimed: a concurrent evaluation that read the same batch loses here.
            if not MigrationBatch.objects.filter(pk=batch.pk, noted_on_alert=False).update(noted_on_alert=True):
                continue
            detail = f"Médicos migrados ({batch.reason_display}): {batch.summary}"
            AlertEvent.objects.create(
                alert=alert, kind=EventKind.DOCTORS_MIGRATED, detail=detail[:1000], actor=batch.user, created_at=now
            )
        noted += 1
    return noted
