"""A cache that survives its primary (Redis) going away, by using a fallback cache meanwhile.

With ``REDIS_URL`` set, the "shared" cache (circuit state, which the worker writes and every
web process reads) is Redis, falling back to the database table that holds it when there is no
Redis at all: worker and web processes still agree while Redis is down, because they fall back
to the same table. The "default" cache (throttles, django-q2's cluster stats) falls back to
process memory: what it holds is per-process anyway or only informative.

The first failed call marks the primary server down for ``CACHE_RETRY_SECONDS`` in this process
(one entry per server, shared by every alias and thread), so a down Redis costs one timeout per
interval, not one per call: a check cycle or a health request pays at most ~1 s. Transitions are
logged once each way, never once per call. When the primary answers again, the fallback is
cleared: what it holds was written during the outage and must not come back at the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What a cache backend raises when its server is unreachable (redis-py wraps socket errors,
# but a half-open socket can still surface as a bare OSError).
UNREACHABLE = (redis.RedisError, OSError)

_lock = threading.Lock()
# server (the primary's LOCATION) -> (monotonic time until which it counts as down, reason).
_down: dict[str, tuple[float, str]] = {}


SHARED_CACHE_TABLE = "julia_shared_cache"
FAILOVER_BACKEND = "julia_monitor.lib.failover_cache.FailoverCache"


def failover_caches(redis_url: str, redis_options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return ``CACHES`` for a Redis at ``redis_url``: "default" and "shared" on it, each failing over."""
    on_redis = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url,
        "OPTIONS": redis_options,
    }
    return {
        "redis": {**on_redis, "KEY_PREFIX": "julia"},
        "redis-shared": {**on_redis, "KEY_PREFIX": "julia-shared"},
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "database": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": SHARED_CACHE_TABLE},
        "default": {"BACKEND": FAILOVER_BACKEND, "OPTIONS": {"primary": "redis", "fallback": "local"}},
        "shared": {"BACKEND": FAILOVER_BACKEND, "OPTIONS": {"primary": "redis-shared", "fallback": "database"}},
    }


def describe(exc: BaseException) -> str:
    """Return a short pt-BR reason for a cache failure, without the server's address or password."""
    if isinstance(exc, redis.TimeoutError | TimeoutError):
        return "Redis não respondeu a tempo"
    if isinstance(exc, redis.AuthenticationError):
        return "Redis recusou a autenticação"
    if isinstance(exc, redis.ConnectionError | ConnectionError) and "refused" in str(exc).lower():
        return "conexão com o Redis recusada"
    if isinstance(exc, redis.ConnectionError | OSError):
        return "Redis inacessível"
    return "erro do Redis"


def known_problem(server: str) -> str:
    """Return why ``server`` counts as down in this process now, or "" if it is not known to be."""
    with _lock:
        down = _down.get(server)
    return down[1] if down is not None and time.monotonic() < down[0] else ""


def mark_down(server: str, exc: BaseException, alias: str = "") -> str:
    """Remember ``server`` as down for CACHE_RETRY_SECONDS; log it once per outage; return the reason."""
    reason = describe(exc)
    with _lock:
        was_up = server not in _down
        _down[server] = (time.monotonic() + settings.CACHE_RETRY_SECONDS, reason)
    if was_up:
        logger.warning("cache %s unreachable (%s): falling back until it answers", alias or "server", exc)
    return reason


def redis_problem(url: str) -> str:
    """Return why the Redis at ``url`` is down ("" if it answers a ping), remembering a failure."""
    known = known_problem(url)
    if known:
        return known
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except UNREACHABLE as exc:
        return mark_down(url, exc, "redis")
    return ""


def forget_failures() -> None:
    """Forget every server marked down (tests, and nothing else, need this)."""
    with _lock:
        _down.clear()


class FailoverCache(BaseCache):
    """Delegate to ``OPTIONS["primary"]``; while it is unreachable, to ``OPTIONS["fallback"]``."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        options = params.get("OPTIONS", {})
        self.primary_alias: str = options["primary"]
        self.fallback_alias: str = options["fallback"]
        self.server = str(caches.settings[self.primary_alias].get("LOCATION", self.primary_alias))

    @property
    def primary(self) -> BaseCache:
        return caches[self.primary_alias]

    @property
    def fallback(self) -> BaseCache:
        return caches[self.fallback_alias]

    def problem(self) -> str:
        """Return why the primary counts as down now ("" if it is up), asking it if not known."""
        known = known_problem(self.server)
        if known:
            return known
        try:
            self.primary.has_key("failover:ping")
        except UNREACHABLE as exc:
            return mark_down(self.server, exc, self.primary_alias)
        self._mark_up()
        return ""

    def _mark_up(self) -> None:
        with _lock:
            was_down = _down.pop(self.server, None) is not None
        if was_down:
            logger.warning("cache %s answers again: back from %s", self.primary_alias, self.fallback_alias)
            try:
                self.fallback.clear()
            except Exception:  # a stale fallback is harmless: the next outage overwrites what it reads
                logger.exception("cache %s: could not clear the fallback", self.fallback_alias)

    def _call(self, use: Callable[[BaseCache], T]) -> T:
        with _lock:
            down = _down.get(self.server)
        if down is None or time.monotonic() >= down[0]:
            try:
                result = use(self.primary)
            except UNREACHABLE as exc:
                mark_down(self.server, exc, self.primary_alias)
            else:
                if down is not None:
                    self._mark_up()
                return result
        return use(self.fallback)

    # The cache API, delegated as given: keys are made, and DEFAULT_TIMEOUT read, by the cache
    # that stores them (its own KEY_PREFIX and TIMEOUT).

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._call(lambda c: c.add(key, value, timeout, version))

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._call(lambda c: c.get(key, default, version))

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._call(lambda c: c.set(key, value, timeout, version))

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._call(lambda c: c.touch(key, timeout, version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._call(lambda c: c.delete(key, version))

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._call(lambda c: c.get_many(keys, version))

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        return self._call(lambda c: c.set_many(data, timeout, version))

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._call(lambda c: c.delete_many(keys, version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._call(lambda c: c.has_key(key, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self._call(lambda c: c.incr(key, delta, version))

    def decr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self._call(lambda c: c.decr(key, delta, version))

    def clear(self) -> None:
        self._call(lambda c: c.clear())

    def close(self, **kwargs: Any) -> None:
        for cache in (self.primary, self.fallback):
            cache.close(**kwargs)


def cache_problem(alias: str = "shared") -> str:
    """Return why the shared cache's primary (Redis) is down now, or "" (also when there is no failover)."""
    cache = caches[alias]
    return cache.problem() if isinstance(cache, FailoverCache) else ""
