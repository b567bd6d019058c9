"""Moving doctors off an instance: when it is banned (the system) or drained by an operator.

A doctor's ``preferred_instance`` is the number that messages them. When that number is banned,
its doctors go to numbers that can take them:

- **eligible targets**: active, connected by a fresh reading (``InstanceQuerySet.online``), not
  flapping (the rule that opens "instável": FLAP_DROPS drops within FLAP_WINDOW_MINUTES, plus
  any instance the caller knows has an open "instável" alert), and not the source itself;
- **a doctor's expected daily messages** (``per_doctor``): the source's messages over the last 7
  days ÷ 7 ÷ its doctors, rounded up, at least 1. Usage is counted per instance, not per doctor,
  so this is the best figure the data has;
- **a target's room**: ``capacity_per_day − max(messages today, doctors already assigned ×
  per_doctor)``: what it has already sent today, or what its own doctors are expected to send
  if that is more. It takes at most ``room // per_doctor`` doctors, so no target is ever pushed
  past its daily capacity;
- **spreading**: if the doctors need more room than the fleet has, every target is filled and
  the rest stay where they are ("sem destino"); otherwise they are shared in proportion to each
  target's room (largest remainders, ties by name).

Everything happens in one transaction with the source's and the targets' rows locked (in
primary-key order), so two workers never move the same doctors twice; a ban is migrated once
(one ban batch per ban, a unique constraint). The writes are bulk: one UPDATE per target and one
INSERT of moves per 5,000 doctors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from instances.fleet import flapping
from instances.models import (
    Doctor,
    DoctorMove,
    Instance,
    InstanceQuerySet,
    MigrationBatch,
    MigrationReason,
    Status,
    UsageBucket,
)
from julia_monitor.lib.text import plural

logger = logging.getLogger(__name__)

USAGE_LOOKBACK_DAYS = 7
# Ids per UPDATE: well under every backend's limit on query parameters.
UPDATE_CHUNK = 900
# Rows per INSERT of moves (Django lowers it further where the backend needs: SQLite).
INSERT_CHUNK = 5000


@dataclass(frozen=True)
class Target:
    pk: int
    name: str
    slots: int


def per_doctor_daily(source: Instance, doctors: int, now: datetime) -> int:
    """Return a doctor's expected daily messages: the source's 7-day daily average ÷ its doctors, ≥ 1."""
    since = now - timedelta(days=USAGE_LOOKBACK_DAYS)
    sent = UsageBucket.objects.filter(instance=source, hour__gte=since).aggregate(total=Sum("count"))["total"] or 0
    return max(1, ceil(sent / USAGE_LOOKBACK_DAYS / max(doctors, 1)))


def share(count: int, targets: list[Target]) -> dict[int, int]:
    """Split ``count`` doctors over ``targets`` in proportion to their slots, never past a target's slots."""
    room = sum(t.slots for t in targets)
    if count >= room:
        return {t.pk: t.slots for t in targets if t.slots}
    quotas = {t.pk: count * t.slots / room for t in targets}
    given = {pk: int(q) for pk, q in quotas.items()}
    left = count - sum(given.values())
    by_remainder = sorted(targets, key=lambda t: (-(quotas[t.pk] - given[t.pk]), t.name))
    for target in by_remainder[:left]:
        given[target.pk] += 1
    return {pk: n for pk, n in given.items() if n}


def eligible(source: Instance, now: datetime, unstable: Iterable[int] = ()) -> InstanceQuerySet:
    """The instances that may take doctors now: active, online by a fresh reading, not flapping."""
    excluded = {source.pk, *flapping(now), *unstable}
    return Instance.objects.active().online(now).exclude(pk__in=excluded)


def lock_rows(source: Instance, candidates: InstanceQuerySet) -> None:
    """Lock the source's and the candidates' rows in one statement, in primary-key order.

    One order for every worker: a drain onto B while B is drained onto A cannot deadlock.
    """
    wanted = Q(pk=source.pk) | Q(pk__in=candidates.values("pk"))
    list(Instance.objects.select_for_update().filter(wanted).order_by("pk").values_list("pk", flat=True))


def eligible_targets(candidates: InstanceQuerySet, per_doctor: int, now: datetime) -> list[Target]:
    """Return the candidates with how many doctors each can take (its room ÷ ``per_doctor``)."""
    assigned = Doctor.objects.filter(preferred_instance=OuterRef("pk")).order_by().values("preferred_instance")
    rows = (
        candidates.with_usage(now)
        .annotate(assigned=Coalesce(Subquery(assigned.annotate(n=Count("pk")).values("n")[:1]), 0))
        .order_by("name")
    )
    targets = []
    for row in rows:
        committed = max(row.msgs_day, row.assigned * per_doctor)  # type: ignore[attr-defined]
        slots = max(0, row.capacity_per_day - committed) // per_doctor
        targets.append(Target(row.pk, row.name, slots))
    return targets


# How many targets the summary names; the rest are counted together.
TARGETS_NAMED = 8


def describe(moved: dict[str, int], stranded: int) -> str:
    """Return "14 movidos para julia-sp-02 (8) e julia-rj-02 (6); 3 sem destino"."""
    total = sum(moved.values())
    if not total and not stranded:
        return "Nenhum médico atribuído a migrar."
    said = "nenhum movido"
    if total:
        said = f"{plural(total, 'movido', 'movidos')} para {_targets(moved)}"
    if stranded:
        said += f"; {stranded} sem destino (sem capacidade livre na frota)"
    return said


def _targets(moved: dict[str, int]) -> str:
    """Return "julia-sp-02 (8) e julia-rj-02 (6)", the biggest first, at most TARGETS_NAMED named."""
    ranked = sorted(((name, n) for name, n in moved.items() if n), key=lambda kv: (-kv[1], kv[0]))
    parts = [f"{name} ({n})" for name, n in ranked[:TARGETS_NAMED]]
    rest = ranked[TARGETS_NAMED:]
    if rest:
        parts.append(f"mais {plural(len(rest), 'instância', 'instâncias')} ({sum(n for _name, n in rest)})")
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} e {parts[-1]}"


def migrate(
    source: Instance,
    reason: str,
    user: Any = None,
    now: datetime | None = None,
    unstable: Iterable[int] = (),
) -> MigrationBatch | None:
    """Move the doctors of ``source`` to eligible targets; return the batch (None: a ban already migrated).

    ``reason`` is ``MigrationReason.BANNED`` (the system, once per ban) or ``DRAINED`` (a person).
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            candidates = eligible(source, now, unstable)
            lock_rows(source, candidates)
            current = Instance.objects.get(pk=source.pk)
            if reason == MigrationReason.BANNED and (current.status != Status.BANNED or not current.is_active):
                return None  # seen connected again (or deactivated) since it was read as banned
            episode = current.status_since if reason == MigrationReason.BANNED else None
            if (
                episode is not None
                and MigrationBatch.objects.filter(instance=current, reason=reason, episode_since=episode).exists()
            ):
                return None
            doctors = list(
                Doctor.objects.select_for_update()
                .filter(preferred_instance=current)
                .order_by("name", "pk")
                .values_list("pk", flat=True)
            )
            per_doctor = per_doctor_daily(current, len(doctors), now)
            targets = eligible_targets(candidates, per_doctor, now) if doctors else []
            shares = share(len(doctors), targets)
            names = {t.pk: t.name for t in targets}
            batch = MigrationBatch.objects.create(
                instance=current,
                reason=reason,
                episode_since=episode,
                created_at=now,
                user=user,
                per_doctor_daily=per_doctor,
            )
            label = reason if user is None else f"{reason} por {user.get_username()}"
            moves, position = [], 0
            remaining = Doctor.objects.filter(preferred_instance=current)
            for target_pk, count in sorted(shares.items(), key=lambda kv: names[kv[0]]):
                chosen = doctors[position : position + count]
                position += count
                # The first ``count`` still on the source, in the order ``doctors`` was read (its
                # rows are locked): one UPDATE per target, whatever the number of doctors.
                first = remaining.order_by("name", "pk").values("pk")[:count]
                Doctor.objects.filter(pk__in=Subquery(first)).update(preferred_instance_id=target_pk)
                moves += [
                    DoctorMove(
                        doctor_id=pk,
                        from_instance=current,
                        to_instance_id=target_pk,
                        batch=batch,
                        reason=label,
                        user=user,
                        created_at=now,
                    )
                    for pk in chosen
                ]
            DoctorMove.objects.bulk_create(moves, batch_size=INSERT_CHUNK)
            batch.moved, batch.stranded = position, len(doctors) - position
            batch.summary = describe({names[pk]: n for pk, n in shares.items()}, batch.stranded)
            batch.save(update_fields=["moved", "stranded", "summary"])
    except IntegrityError:
        # Another worker migrated this ban a moment ago (the unique constraint said so).
        return None
    # Ids, not names: an instance's name is outside text and must not make this look like another line.
    per_target = ", ".join(f"#{pk}: {n}" for pk, n in sorted(shares.items()))
    logger.info(
        "doctor migration: batch %s off instance #%s (%s): %s moved (%s), %s stranded",
        batch.pk,
        source.pk,
        reason,
        batch.moved,
        per_target or "none",
        batch.stranded,
        extra={"batch_id": batch.pk, "instance_id": source.pk, "moved": batch.moved, "stranded": batch.stranded},
    )
    return batch


def migrate_banned(now: datetime | None = None, unstable: Iterable[int] = ()) -> list[MigrationBatch]:
    """Migrate the doctors of every active banned instance whose ban has not been migrated yet."""
    if not settings.MIGRATE_DOCTORS_ON_BAN:
        return []
    now = now or timezone.now()
    unstable = set(unstable)
    done = MigrationBatch.objects.filter(
        instance=OuterRef("pk"), reason=MigrationReason.BANNED, episode_since=OuterRef("status_since")
    )
    pending = Instance.objects.active().filter(status=Status.BANNED).exclude(Exists(done))
    return [batch for source in pending if (batch := migrate(source, MigrationReason.BANNED, None, now, unstable))]


def undo(batch: MigrationBatch, user: Any, now: datetime | None = None) -> int | None:
    """Move each doctor of ``batch`` back where it came from, if it is still where the batch put it.

    Return how many went back; None if the batch was already undone.
    """
    now = now or timezone.now()
    with transaction.atomic():
        if not MigrationBatch.objects.filter(pk=batch.pk, undone_at__isnull=True).update(undone_at=now, undone_by=user):
            return None
        moves = list(batch.moves.filter(undo=False).values_list("doctor_id", "from_instance_id", "to_instance_id"))
        current = dict(
            Doctor.objects.select_for_update()
            .filter(pk__in=[m[0] for m in moves])
            .values_list("pk", "preferred_instance_id")
        )
        back = [(doctor, source, to) for doctor, source, to in moves if source and current.get(doctor) == to]
        by_source: dict[int, list[int]] = {}
        for doctor, source, _to in back:
            by_source.setdefault(source, []).append(doctor)
        for source, ids in by_source.items():
            for start in range(0, len(ids), UPDATE_CHUNK):
                Doctor.objects.filter(pk__in=ids[start : start + UPDATE_CHUNK]).update(preferred_instance_id=source)
        label = f"desfeito por {user.get_username()}" if user is not None else "desfeito"
        DoctorMove.objects.bulk_create(
            [
                DoctorMove(
                    doctor_id=doctor,
                    from_instance_id=to,
                    to_instance_id=source,
                    batch=batch,
                    reason=label,
                    user=user,
                    undo=True,
                    created_at=now,
                )
                for doctor, source, to in back
            ],
            batch_size=UPDATE_CHUNK,
        )
        MigrationBatch.objects.filter(pk=batch.pk).update(restored=len(back))
    batch.refresh_from_db()
    logger.info(
        "doctor migration undone: batch %s, %s back to instance #%s",
        batch.pk,
        len(back),
        batch.instance_id,
        extra={"batch_id": batch.pk, "instance_id": batch.instance_id, "restored": len(back)},
    )
    return len(back)
