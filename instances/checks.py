"""The check cycle: list the fleet on the gateway, probe every instance, record what changed.

Three phases, so no transaction or row lock is held across the network wait and no ORM call
runs inside the event loop: read the fleet (ORM), talk to the gateway (``asyncio.run``),
write the results (ORM, a handful of batched UPDATEs plus one ``record_status`` per change).
A lease keeps two workers from running the cycle at once; the "gateway" circuit keeps a
dead gateway from being hammered every minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, F, Value, When
from django.utils import timezone

from instances.gateway import (
    EvolutionClient,
    GatewayInstance,
    GatewayUnavailable,
    ProbeResult,
    gateway_failure,
)
from instances.gateway.states import reason_for, resolve
from instances.models import CheckCycle, Instance, MonitorLease, Status, StatusChange, is_fresh, settled_status
from instances.signals import cycle_finished
from julia_monitor.lib import text
from julia_monitor.lib.circuits import CircuitBreaker
from julia_monitor.lib.text import plural

logger = logging.getLogger(__name__)

LEASE_NAME = "check-cycle"


@dataclass
class CycleSummary:
    """What one cycle did; ``changes`` are the StatusChanges it recorded (for the alert rules)."""

    probed: int = 0
    online: int = 0
    failures: int = 0
    discovered: int = 0
    changes: list[StatusChange] = field(default_factory=list)
    gateway_ok: bool = True
    gateway_error: str = ""
    skipped: str = ""
    seconds: float = 0.0
    cycle: CheckCycle | None = None
    # name -> error of instances whose probe failed this cycle.
    failed: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.skipped:
            return f"ciclo ignorado: {self.skipped}"
        if not self.gateway_ok:
            return f"gateway indisponível: {self.gateway_error} (nenhum status alterado) em {self.seconds:.1f}s"
        return (
            ", ".join(
                [
                    plural(self.probed, "verificada", "verificadas"),
                    f"{self.online} online",
                    plural(self.failures, "falha", "falhas"),
                    plural(len(self.changes), "mudança", "mudanças"),
                    plural(self.discovered, "nova", "novas"),
                ]
            )
            + f" em {self.seconds:.1f}s"
        )


@dataclass
class GatewayView:
    """Everything the network phase learned (no ORM objects inside)."""

    rows: dict[str, GatewayInstance] = field(default_factory=dict)
    probes: dict[str, ProbeResult] = field(default_factory=dict)
    error: GatewayUnavailable | None = None


async def _talk_to_gateway(client: EvolutionClient, active_names: list[str], known_names: set[str]) -> GatewayView:
    """List the fleet once, then probe the active instances plus the ones just discovered."""
    try:
        rows = {row.name: row for row in await client.afetch_instances()}
    except GatewayUnavailable as exc:
        return GatewayView(error=exc)
    names = active_names + sorted(rows.keys() - known_names)
    probes = await client.aprobe_all(names)
    return GatewayView(rows=rows, probes=probes, error=gateway_failure(probes.values()))


def lease_seconds(client: EvolutionClient) -> float:
    """Return how long the lease lasts: longer than any cycle, short enough to recover from a crash."""
    return max(90.0, client.timeout + client.probe_budget + 60)


def run_cycle(now: datetime | None = None, client: EvolutionClient | None = None, force: bool = False) -> CycleSummary:
    """Run one check cycle unless another one holds the lease; return what it did.

    ``force`` calls the gateway even if its circuit is open: an operator's explicit run is the
    trial that closes a circuit opened for good by a refused key, once the key is fixed.
    """
    client = client or EvolutionClient()
    token = MonitorLease.acquire(LEASE_NAME, seconds=lease_seconds(client))
    if token is None:
        return CycleSummary(skipped="outro ciclo em andamento")
    try:
        summary = _run(now or timezone.now(), client, force)
    finally:
        MonitorLease.release(LEASE_NAME, token)
    cycle_finished.send(sender=CycleSummary, summary=summary)
    return summary


def _run(now: datetime, client: EvolutionClient, force: bool) -> CycleSummary:
    started = time.monotonic()
    breaker = CircuitBreaker("gateway")
    if not force and not breaker.allow():
        last = breaker.snapshot().last_error
        error = f"circuito aberto, gateway não consultado ({last})"[:300]
        return _finish(CycleSummary(gateway_ok=False, gateway_error=error), now, started)

    instances = {inst.name: inst for inst in Instance.objects.all()}
    # Last cycle's failures first: an instance that hung then probably hangs now, and started
    # first its timeout runs alongside everyone else's probes instead of after them.
    active = sorted((i for i in instances.values() if i.is_active), key=lambda i: (not i.consecutive_failures, i.name))
    view = asyncio.run(_talk_to_gateway(client, [i.name for i in active], set(instances)))
    return record_view(view, instances, now, started)


def record_view(view: GatewayView, instances: dict[str, Instance], now: datetime, started: float) -> CycleSummary:
    """Write what the network phase learned (``instances`` as read before it, by name)."""
    summary = CycleSummary()
    breaker = CircuitBreaker("gateway")
    if view.error is not None:
        # The gateway failed, not the instances: no status changes, no failure counts.
        breaker.record_failure(str(view.error), permanent=view.error.permanent)
        summary.gateway_ok, summary.gateway_error = False, str(view.error)[:300]
        logger.warning("check cycle: %s", text.one_line(view.error))  # the gateway's own words
        return _finish(summary, now, started)
    breaker.record_success()

    summary.discovered = _discover(view.rows, instances, now)
    _sync_gateway_rows(view.rows, instances, now)
    _record_probes(view, instances, now, summary)
    return _finish(summary, now, started)


def _discover(rows: dict[str, GatewayInstance], instances: dict[str, Instance], now: datetime) -> int:
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
    Instance.objects.bulk_create(new, ignore_conflicts=True)
    created = Instance.objects.filter(name__in=[inst.name for inst in new])
    instances.update({inst.name: inst for inst in created})
    return len(new)


def _reason(row: GatewayInstance) -> str:
    if not row.disconnection_code:
        return ""
    code_reason = reason_for(row.disconnection_code)
    return (f"{code_reason}: {row.disconnection_reason}" if row.disconnection_reason else code_reason)[:300]


def _sync_gateway_rows(rows: dict[str, GatewayInstance], instances: dict[str, Instance], now: datetime) -> None:
    """Fill an empty phone number and keep the gateway's last disconnection (one UPDATE per real change).

    A (code, disconnectionAt) pair the portal has not stored is news, stamped with the
    portal's clock (unless the gateway dates it well before the number was last seen
    connected). A webhook reports the code without the gateway's date: when the row then
    shows the same code, it is the same close, only dated now.
    """
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
            Instance.objects.filter(pk=inst.pk).update(**fields)
            for key, value in fields.items():
                setattr(inst, key, value)


NOT_LISTED = "o gateway não lista mais esta instância"


def _record_probes(view: GatewayView, instances: dict[str, Instance], now: datetime, summary: CycleSummary) -> None:
    """Write every probe result: a ``record_status`` per change, batched UPDATEs for the rest.

    A failed probe is not a reading. An instance the gateway no longer lists is ``unknown`` at
    once; one whose readings stop is ``unknown`` once the last one is STATUS_STALE_AFTER_SECONDS
    old; and when not one instance could be read (the gateway answers, but nothing usable),
    every failed one is ``unknown`` now: that is the fleet going dark, not a probe hiccup.
    """
    unchanged: dict[Status, list[int]] = defaultdict(list)
    failed: dict[str, list[int]] = defaultdict(list)
    unreadable: list[tuple[Instance, str]] = []
    for name, probe in view.probes.items():
        inst = instances.get(name)
        if inst is None:
            continue
        if not probe.ok:
            summary.failed[name] = probe.error
            if name not in view.rows:
                _observe(inst, Status.UNKNOWN, NOT_LISTED, now, summary)
            else:
                failed[probe.error[:300]].append(inst.pk)
                unreadable.append((inst, probe.error))
            continue
        seen = resolve(probe.state, probe.code, inst)
        if settled_status(inst.status, seen.status) == inst.status:
            unchanged[Status(inst.status)].append(inst.pk)
            continue
        _observe(inst, seen.status, seen.reason, now, summary)

    ok_ids = [pk for pks in unchanged.values() for pk in pks]
    if ok_ids:
        Instance.objects.filter(pk__in=ok_ids).update(
            last_checked_at=now, last_read_at=now, consecutive_failures=0, last_error=""
        )
    if unchanged[Status.CONNECTED]:
        # Guarded by status: a webhook may have recorded a drop while we were probing.
        Instance.objects.filter(pk__in=unchanged[Status.CONNECTED], status=Status.CONNECTED).update(
            last_seen_connected_at=now
        )
    if failed:
        # One UPDATE whatever the mix of errors: each failed row gets its own message.
        last_error = Case(*(When(pk__in=pks, then=Value(error)) for error, pks in failed.items()), default=Value(""))
        Instance.objects.filter(pk__in=[pk for pks in failed.values() for pk in pks]).update(
            consecutive_failures=F("consecutive_failures") + 1, last_checked_at=now, last_error=last_error
        )
    nothing_read = not any(probe.ok for probe in view.probes.values())
    for inst, error in unreadable:
        if inst.status != Status.UNKNOWN and (nothing_read or not is_fresh(inst.last_read_at, now)):
            _observe(inst, Status.UNKNOWN, _unread_reason(inst, error), now, summary, read=False)
    summary.probed = len(view.probes)
    summary.failures = len(summary.failed)


def _observe(inst: Instance, status: str, reason: str, now: datetime, summary: CycleSummary, read: bool = True) -> None:
    change = inst.record_status(status, reason=reason, at=now, read=read)
    if change is not None:
        summary.changes.append(change)


def _unread_reason(inst: Instance, error: str) -> str:
    if inst.last_read_at is None:
        return f"nunca lida: {error}"[:300]
    return f"sem leitura desde {text.moment(inst.last_read_at)}: {error}"[:300]


def _finish(summary: CycleSummary, now: datetime, started: float) -> CycleSummary:
    # Online as the portal now knows it; a gateway outage leaves the last known statuses, so it
    # never reads as "none online".
    summary.online = Instance.objects.active().filter(status=Status.CONNECTED).count()
    summary.seconds = time.monotonic() - started
    summary.cycle = CheckCycle.objects.create(
        started_at=now,
        finished_at=now + timedelta(seconds=summary.seconds),
        probed=summary.probed,
        online=summary.online,
        failures=summary.failures,
        changes=len(summary.changes),
        discovered=summary.discovered,
        gateway_ok=summary.gateway_ok,
        gateway_error=summary.gateway_error,
    )
    logger.info("check cycle: %s", text.one_line(summary))
    return summary
