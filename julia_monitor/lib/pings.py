"""Pinging a Healthchecks-style dead-man's switch: ``GET <url>`` for "alive", ``POST <url>/fail`` for "failing".

Healthchecks (https://healthchecks.io/docs/http_api/) accepts HEAD, GET and POST on a ping URL,
and ``/fail`` appended to it signals a failure. Only a POST carries a body, and Healthchecks keeps
the first 100 kB of it with the ping (https://healthchecks.io/docs/attaching_logs/): a failure is
posted with what went wrong, so whoever is paged reads why without opening the portal.

A ping URL is a secret (whoever knows it can report "all is well"): only its scheme and host
are ever logged. A ping never raises: it has a hard deadline and a failure is one log line.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit, urlunsplit

import httpx

logger = logging.getLogger(__name__)

# Healthchecks logs the first 100 kB of a body; a longer one is cut here, keeping its start.
MAX_BODY_BYTES = 100_000


def is_http_url(url: str) -> bool:
    """Return True if ``url`` is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. a malformed IPv6 host or port
        return False


def public_part(url: str) -> str:
    """Return what of ``url`` may be logged: its scheme and host (the path is the secret)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    except ValueError:
        return "(URL inválida)"


def fail_url(url: str) -> str:
    """Return ``url`` with ``/fail`` appended to its path (a query string stays after it)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


def ping(url: str, timeout: float, failure: str | None = None) -> bool:
    """Ping ``url`` (GET), or ``<url>/fail`` with ``failure`` as the body (POST); return whether it was taken.

    The whole request, connection included, ends within ``timeout`` seconds. Runs its own event
    loop: call it from synchronous code (the worker's tasks).
    """
    try:
        return asyncio.run(_ping(url, timeout, failure))
    except Exception as exc:  # never break the caller: a heartbeat is a side effect
        logger.warning("heartbeat: ping to %s failed: %s", public_part(url), type(exc).__name__)
        return False


async def _ping(url: str, timeout: float, failure: str | None) -> bool:
    target = url if failure is None else fail_url(url)
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=timeout) as client:
            if failure is None:
                response = await client.get(target)
            else:
                body = failure.encode()[:MAX_BODY_BYTES].decode(errors="ignore").encode()  # whole characters
                headers = {"Content-Type": "text/plain; charset=utf-8"}
                response = await client.post(target, content=body, headers=headers)
    except (TimeoutError, httpx.TimeoutException):
        logger.warning("heartbeat: ping to %s got no answer within %gs", public_part(url), timeout)
        return False
    except httpx.HTTPError as exc:
        logger.warning("heartbeat: ping to %s failed: %s", public_part(url), type(exc).__name__)
        return False
    if not response.is_success:
        logger.warning("heartbeat: ping to %s answered HTTP %s", public_part(url), response.status_code)
        return False
    return True
