"""The check cycle: list the fleet on the gateway, probe every instance, record what changed.

Three phases, so no transaction or row lock is held across the network wait and no ORM call
runs inside the event loop: read the fleet (ORM), talk to the gateway (``asyncio.run``),
write the results (ORM, a handful of batched UPDATEs; status changes one by one, or in bulk
when many change at once).
A lease keeps two workers from running the cycle at once; the "gateway" circuit keeps a
dead gateway from being hammered every minute.

One bad item never stops the cycle: rows the gateway sends that the portal cannot store are
rejected before the ORM sees them (and recorded on the cycle for the "Dados inválidos do
gateway" alert), and every per-instance write runs in its own savepoint, so a database error
on one row is logged and counted while the others are recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from instances.bulk_writes import Observed, batches, record_statuses
from instances.discovery import discover, sync_gateway_rows
from instances.gateway import (
    EvolutionClient,
    GatewayInstance,
    GatewayUnavailable,
    ProbeFailure,
    ProbeResult,
    RejectedRow,
    gateway_failure,
)
from instances.gateway.states import resolve
from instances.gateway.validation import safe_label
from instances.guarded import safely, update_all, update_each
from instances.models import CheckCycle, Instance, MonitorLease, Status, StatusChange, is_fresh, settled_status
from instances.shards import Shard
from instances.signals import cycle_finished
from julia_monitor.lib import text
from julia_monitor.lib.circuits import CircuitBreaker
from julia_monitor.lib.failover_cache import cache_problem
from julia_monitor.lib.text import plural

if TYPE_CHECKING:
    from instances.rounds import RoundSummary

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
    # What the gateway sent that the portal refused ("label: problem"), and instances whose
    # result could not be written (name -> error).
    invalid: list[str] = field(default_factory=list)
    record_errors: dict[str, str] = field(default_factory=dict)
    cache_error: str = ""

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
                + ([plural(len(self.invalid), "linha inválida", "linhas inválidas")] if self.invalid else [])
                + ([plural(len(self.record_errors), "erro ao gravar", "erros ao gravar")] if self.record_errors else [])
            )
            + f" em {self.seconds:.1f}s"
        )


@dataclass
class GatewayView:
    """Everything the network phase learned (no ORM objects inside)."""

    rows: dict[str, GatewayInstance] = field(default_factory=dict)
    probes: dict[str, ProbeResult] = field(default_factory=dict)
    error: GatewayUnavailable | None = None
    rejected: list[RejectedRow] = field(default_factory=list)


async def _talk_to_gateway(
    client: EvolutionClient,
    active_names: list[str],
    known_names: set[str],
    shard: Shard | None = None,
    likely_hangs: int = 0,
) -> GatewayView:
    """List the fleet once and probe the active instances meanwhile, then the ones just discovered.

    The probes do not wait for the list: a 10,000-row list takes the gateway a while, and each
    shard asks for it. If the list fails, the probes are dropped: the gateway failed, not them.
    A shard keeps only the listed rows in its slice: it registers, syncs and probes those alone.
    ``active_names`` start with the ``likely_hangs`` that failed last cycle.
    """
    shard = shard or Shard.WHOLE
    probing = asyncio.create_task(client.aprobe_all(active_names, likely_hangs))
    try:
        listed, rejected = await client.afetch_fleet()
    except BaseException as exc:
        probing.cancel()
        await asyncio.gather(probing, return_exceptions=True)
        if isinstance(exc, GatewayUnavailable):
            return GatewayView(error=exc)
        raise
    rows = {row.name: row for row in listed if row.name in shard}
    probes = await probing
    if discovered := sorted(rows.keys() - known_names):
        probes |= await client.aprobe_all(discovered)
    return GatewayView(rows=rows, probes=probes, error=gateway_failure(probes.values()), rejected=rejected)


def lease_seconds(client: EvolutionClient) -> float:
    """Return how long the lease lasts: longer than any cycle, short enough to recover from a crash."""
    return max(90.0, client.timeout + client.probe_budget + 60)


def run_cycle(
    now: datetime | None = None, client: EvolutionClient | None = None, force: bool = False, shard: Shard | None = None
) -> CycleSummary:
    """Run one check cycle unless another one holds the lease; return what it did.

    ``force`` calls the gateway even if its circuit is open: an operator's explicit run is the
    trial that closes a circuit opened for good by a refused key, once the key is fixed.
    ``shard`` limits the cycle to one slice of the fleet, under that slice's own lease; the
    minute is then complete when its round closes (``instances.rounds``), not here.
    """
    client = client or EvolutionClient()
    shard = shard or Shard.WHOLE
    lease = shard.lease_name(LEASE_NAME)
    token = MonitorLease.acquire(lease, seconds=lease_seconds(client))
    if token is None:
        return CycleSummary(skipped="outro ciclo em andamento")
    try:
        summary = _run(now or timezone.now(), client, force, shard)
    finally:
        MonitorLease.release(lease, token)
    if shard.is_whole:
        complete_minute(summary)
    return summary


def complete_minute(summary: CycleSummary | RoundSummary) -> None:
    """The one place where the minute's check of the whole fleet is complete: tell whoever listens.

    Called by a whole-fleet cycle (CHECK_SHARDS=1, ``manage.py check_instances``) with its
    ``CycleSummary``, and by a sharded round when it closes (every shard reported, or the
    timeout passed) with its ``RoundSummary``. The alerts app evaluates on this signal.
    """
    cycle_finished.send(sender=type(summary), summary=summary)


def _run(now: datetime, client: EvolutionClient, force: bool, shard: Shard) -> CycleSummary:
    started = time.monotonic()
    breaker = CircuitBreaker("gateway")
    if not force and not breaker.allow():
        last = breaker.snapshot().last_error
        error = f"circuito aberto, gateway não consultado ({last})"[:300]
        return _finish(CycleSummary(gateway_ok=False, gateway_error=error), now, started, shard)

    instances = {inst.name: inst for inst in Instance.objects.all() if inst.name in shard}
    # Last cycle's failures first: an instance that hung then probably hangs now, and started
    # first its timeout runs alongside everyone else's probes instead of after them.
    active = sorted((i for i in instances.values() if i.is_active), key=lambda i: (not i.consecutive_failures, i.name))
    failing = sum(1 for i in active if i.consecutive_failures)
    view = asyncio.run(_talk_to_gateway(client, [i.name for i in active], set(instances), shard, failing))
    return record_view(view, instances, now, started, shard)


def record_view(
    view: GatewayView, instances: dict[str, Instance], now: datetime, started: float, shard: Shard | None = None
) -> CycleSummary:
    """Write what the network phase learned (``instances`` as read before it, by name)."""
    shard = shard or Shard.WHOLE
    summary = CycleSummary()
    breaker = CircuitBreaker("gateway")
    if view.error is not None:
        # The gateway failed, not the instances: no status changes, no failure counts.
        breaker.record_failure(str(view.error), permanent=view.error.permanent)
        summary.gateway_ok, summary.gateway_error = False, str(view.error)[:300]
        logger.warning("check cycle: %s", text.one_line(view.error))  # the gateway's own words
        return _finish(summary, now, started, shard)
    breaker.record_success()

    summary.invalid = [str(row) for row in view.rejected] + [
        f"estado de {safe_label(name)}: {probe.error}"
        for name, probe in view.probes.items()
        if probe.failure == ProbeFailure.BAD_BODY
    ]
    if summary.invalid:
        logger.warning("check cycle: invalid data from the gateway, skipped: %s", "; ".join(summary.invalid))
    summary.discovered = discover(view.rows, instances, now, summary.record_errors)
    sync_gateway_rows(view.rows, instances, now, summary.record_errors)
    _record_probes(view, instances, now, summary)
    return _finish(summary, now, started, shard)


NOT_LISTED = "o gateway não lista mais esta instância"
# From this many status changes in one cycle they are written in bulk (``_observe_all``).
BULK_FROM = 20


def _record_probes(view: GatewayView, instances: dict[str, Instance], now: datetime, summary: CycleSummary) -> None:
    """Write every probe result: the status changes (``_observe_all``), batched UPDATEs for the rest.

    A failed probe is not a reading. An instance the gateway no longer lists is ``unknown`` at
    once; one whose readings stop is ``unknown`` once the last one is STATUS_STALE_AFTER_SECONDS
    old; and when not one instance could be read (the gateway answers, but nothing usable),
    every failed one is ``unknown`` now: that is the fleet going dark, not a probe hiccup.
    """
    unchanged: dict[Status, list[Instance]] = defaultdict(list)
    failed: dict[str, list[Instance]] = defaultdict(list)
    unreadable: list[tuple[Instance, str]] = []
    observed: list[Observed] = []
    for name, probe in view.probes.items():
        inst = instances.get(name)
        if inst is None:
            continue
        if not probe.ok:
            summary.failed[name] = probe.error
            if name not in view.rows:
                observed.append(Observed(inst, Status.UNKNOWN, NOT_LISTED))
            else:
                failed[probe.error[:300]].append(inst)
                unreadable.append((inst, probe.error))
            continue
        seen = resolve(probe.state, probe.code, inst)
        if settled_status(inst.status, seen.status) == inst.status:
            unchanged[Status(inst.status)].append(inst)
            continue
        observed.append(Observed(inst, seen.status, seen.reason))

    read = [inst for insts in unchanged.values() for inst in insts]
    update_all(
        summary.record_errors, read, last_checked_at=now, last_read_at=now, consecutive_failures=0, last_error=""
    )
    # Guarded by status: a webhook may have recorded a drop while we were probing.
    connected = [inst for inst in unchanged[Status.CONNECTED] if inst.name not in summary.record_errors]
    if connected:
        safely(
            summary.record_errors,
            connected[0].name if len(connected) == 1 else "instâncias conectadas",
            lambda: Instance.objects.filter(pk__in=[i.pk for i in connected], status=Status.CONNECTED).update(
                last_seen_connected_at=now
            ),
        )
    if failed:
        _record_failures(failed, now, summary)
    nothing_read = not any(probe.ok for probe in view.probes.values())
    for inst, error in unreadable:
        if inst.status != Status.UNKNOWN and (nothing_read or not is_fresh(inst.last_read_at, now)):
            observed.append(Observed(inst, Status.UNKNOWN, _unread_reason(inst, error), read=False))
    _observe_all(observed, now, summary)
    summary.probed = len(view.probes)
    summary.failures = len(summary.failed)


def _record_failures(failed: dict[str, list[Instance]], now: datetime, summary: CycleSummary) -> None:
    """One UPDATE whatever the mix of errors (each failed row gets its own message); row by row if it fails."""
    insts = [inst for group in failed.values() for inst in group]
    error_of = {inst.pk: error for error, group in failed.items() for inst in group}
    whens = [When(pk__in=[i.pk for i in group], then=Value(error)) for error, group in failed.items()]
    last_error = Case(*whens, default=Value(""))
    try:
        with transaction.atomic():
            Instance.objects.filter(pk__in=[i.pk for i in insts]).update(
                consecutive_failures=F("consecutive_failures") + 1, last_checked_at=now, last_error=last_error
            )
    except Exception:
        logger.exception("check cycle: recording failed probes failed, retrying row by row")
        update_each(
            summary.record_errors,
            insts,
            lambda inst: {
                "consecutive_failures": F("consecutive_failures") + 1,
                "last_checked_at": now,
                "last_error": error_of[inst.pk],
            },
        )


def _observe_all(observed: list[Observed], now: datetime, summary: CycleSummary) -> None:
    """Record the cycle's status changes: in bulk when many change at once, else one by one.

    A batch the database refuses is retried one by one, so only the bad row is lost. Below
    BULK_FROM the bulk path would save a handful of queries, and one savepoint per change
    keeps each change's failure its own.
    """
    if len(observed) < BULK_FROM:
        for seen in observed:
            _observe(seen.instance, seen.status, seen.reason, now, summary, read=seen.read)
        return
    for batch in batches(observed):
        try:
            summary.changes.extend(record_statuses(batch, now))
        except Exception:
            logger.exception("check cycle: recording %d status changes at once failed, retrying one by one", len(batch))
            for seen in batch:
                _observe(seen.instance, seen.status, seen.reason, now, summary, read=seen.read)


def _observe(inst: Instance, status: str, reason: str, now: datetime, summary: CycleSummary, read: bool = True) -> None:
    changes: list[StatusChange] = []

    def write() -> None:
        change = inst.record_status(status, reason=reason[:300], at=now, read=read)
        if change is not None:
            changes.append(change)

    if safely(summary.record_errors, inst.name, write):
        summary.changes.extend(changes)


def _unread_reason(inst: Instance, error: str) -> str:
    if inst.last_read_at is None:
        return f"nunca lida: {error}"[:300]
    return f"sem leitura desde {text.moment(inst.last_read_at)}: {error}"[:300]


def _finish(summary: CycleSummary, now: datetime, started: float, shard: Shard) -> CycleSummary:
    # Online as the portal now knows it; a gateway outage leaves the last known statuses, so it
    # never reads as "none online".
    summary.cache_error = cache_problem()
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
        invalid_rows=summary.invalid[:50],
        record_errors=len(summary.record_errors),
        cache_ok=not summary.cache_error,
        cache_error=summary.cache_error[:300],
        shard=shard.index,
        shards=shard.count,
        round_id=shard.round_id,
    )
    logger.info("check cycle%s: %s", shard.label, text.one_line(summary))
    return summary
