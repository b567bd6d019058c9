"""Circuit breakers around outside services (the gateway now; Slack and SMTP later).

State lives in the "shared" cache (Redis in production, a database table otherwise) so the
worker that trips a circuit and the web process that reports it in /dashboard/health agree.
A circuit opens after ``CIRCUIT_FAILURE_THRESHOLD`` failures in a row and lets one trial call
through ("half-open") once ``CIRCUIT_COOLDOWN_SECONDS`` have passed since the last failure.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.core.cache import caches
from django.db import models

KNOWN_CIRCUITS = ["gateway"]


class CircuitState(models.TextChoices):
    CLOSED = "closed", "fechado"
    OPEN = "open", "aberto"
    HALF_OPEN = "half_open", "semiaberto"


@dataclass
class CircuitSnapshot:
    name: str
    failures: int = 0
    opened_at: float | None = None
    last_failure_at: float | None = None
    last_error: str = ""
    # Opened by a permanent error (bad credentials): opens at once, without waiting for
    # the threshold; it still lets one trial through per cooldown to notice the fix.
    permanent: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def state(self, now: float | None = None) -> CircuitState:
        if self.opened_at is None:
            return CircuitState.CLOSED
        now = time.time() if now is None else now
        if now - (self.last_failure_at or 0) >= settings.CIRCUIT_COOLDOWN_SECONDS:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN


class CircuitBreaker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.key = f"circuit:{name}"

    def _cache(self):  # noqa: ANN202 - a Django cache backend
        return caches["shared"]

    def snapshot(self) -> CircuitSnapshot:
        data = self._cache().get(self.key)
        return CircuitSnapshot(**data) if data else CircuitSnapshot(name=self.name)

    def _save(self, snap: CircuitSnapshot) -> None:
        self._cache().set(self.key, asdict(snap), timeout=None)

    def allow(self) -> bool:
        """Return True if a call may go out now (closed, or half-open for a trial)."""
        return self.snapshot().state() != CircuitState.OPEN

    def record_success(self) -> None:
        snap = self.snapshot()
        if snap.failures or snap.opened_at is not None:
            self._save(CircuitSnapshot(name=self.name))

    def record_failure(self, error: str, permanent: bool = False) -> CircuitSnapshot:
        snap = self.snapshot()
        now = time.time()
        snap.failures += 1
        snap.last_failure_at = now
        snap.last_error = error[:300]
        snap.permanent = snap.permanent or permanent
        if snap.opened_at is None and (permanent or snap.failures >= settings.CIRCUIT_FAILURE_THRESHOLD):
            snap.opened_at = now
        self._save(snap)
        return snap


def circuit_states() -> dict[str, CircuitState]:
    """Return the state of every known circuit, by name."""
    return {name: CircuitBreaker(name).snapshot().state() for name in KNOWN_CIRCUITS}
