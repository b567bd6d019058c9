"""The simulator's webhook sender: posts Evolution webhooks in order, off the request path.

Runs as one task in the simulator's event loop, so a slow or dead receiver never delays an
HTTP answer. Like Evolution (docs/evolution.md §4.1) it does not retry 400/401/403/404/422 and retries
the rest with backoff; unlike Evolution the backoff is short (a demo must not lag minutes
behind) and delivery is strictly in order, so a receiver sees ``connection.update`` events
in the order they happened.

How it proves itself to the receiver (``auth``), as Evolution can:

- ``jwt``: a per-instance webhook whose ``headers`` hold ``jwt_key``; every post carries a fresh
  ``Authorization: Bearer`` HS256 token ``{"app": "evolution", "action": "webhook"}`` valid 10 minutes.
- ``header``: a per-instance webhook whose ``headers`` hold ``X-Webhook-Secret``.
- ``query``: the global webhook, which sends no headers: the secret goes in the URL as ``?token=``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

import httpx
import jwt

logger = logging.getLogger("instances.simulator")

NO_RETRY_STATUSES = frozenset({400, 401, 403, 404, 422})
AUTH_MODES = ("jwt", "header", "query")
JWT_LIFETIME_SECONDS = 600  # Evolution's: ten minutes


class WebhookSender:
    """Queue and deliver webhook payloads to one URL. Every method runs in the event loop."""

    def __init__(
        self,
        url: str,
        secret: str | None,
        retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0),
        timeout: float = 5.0,
        max_backlog: int = 10_000,
        auth: str = "header",
    ) -> None:
        if auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {AUTH_MODES}, got {auth!r}")
        self.url = url
        self.secret = secret
        self.auth = auth
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.max_backlog = max_backlog
        self.delivered = 0
        self.dropped = 0
        self._queue: deque[dict[str, Any]] = deque()
        self._wakeup = asyncio.Event()
        self._busy = False
        self._task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return not self._queue and not self._busy

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="simulator-webhooks")

    def enqueue(self, payload: dict[str, Any]) -> None:
        if len(self._queue) >= self.max_backlog:
            # A receiver that has been down for a long time must not grow memory forever.
            old = self._queue.popleft()
            self.dropped += 1
            logger.warning("simulator: webhook backlog full, dropped %s of %s", old["event"], old["instance"])
        self._queue.append(payload)
        self._wakeup.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        params = {"token": self.secret} if self.secret and self.auth == "query" else None
        headers = {"X-Webhook-Secret": self.secret} if self.secret and self.auth == "header" else {}
        async with httpx.AsyncClient(timeout=self.timeout, headers=headers, params=params) as client:
            while True:
                if not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                payload = self._queue.popleft()
                self._busy = True
                try:
                    if await self._deliver(client, payload):
                        self.delivered += 1
                    else:
                        self.dropped += 1
                finally:
                    self._busy = False

    def _signed(self) -> dict[str, str]:
        """A fresh token per attempt, as Evolution signs each post (``auth="jwt"``); else nothing."""
        if not self.secret or self.auth != "jwt":
            return {}
        now = int(time.time())
        claims = {"app": "evolution", "action": "webhook", "iat": now, "exp": now + JWT_LIFETIME_SECONDS}
        return {"Authorization": "Bearer " + jwt.encode(claims, self.secret, algorithm="HS256")}

    async def _deliver(self, client: httpx.AsyncClient, payload: dict[str, Any]) -> bool:
        label = f"{payload['event']} de {payload['instance']}"
        attempts = len(self.retry_delays) + 1
        for attempt in range(attempts):
            try:
                response = await client.post(self.url, json=payload, headers=self._signed())
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}".rstrip(": ")
            else:
                if response.is_success:
                    return True
                if response.status_code in NO_RETRY_STATUSES:
                    logger.warning("simulator: webhook %s recusado (HTTP %d); descartado", label, response.status_code)
                    return False
                problem = f"HTTP {response.status_code}"
            if attempt < attempts - 1:
                logger.info("simulator: webhook %s falhou (%s); nova tentativa", label, problem)
                await asyncio.sleep(self.retry_delays[attempt])
            else:
                logger.warning("simulator: webhook %s falhou %d vezes (%s); descartado", label, attempts, problem)
        return False
