"""Pacing a batch of probes: as many in flight as the gateway and this process answer promptly.

The sizing (``sizing.py``) says how many probes the fleet needs in flight; this keeps the
batch from sending them faster than they are answered. Past what the client's event loop or
the gateway can turn round, more probes in flight only lengthen everyone's wait, until prompt
instances miss their timeout and reconnect, which slows everything further (measured on a
loaded 2-core machine: 3,000 probes at 863 in flight, 2 s timeout, all failed; at 300, none).

So the batch keeps a limit on *young* probes (sent less than half a timeout ago), and moves it
by what answers take (additive increase, multiplicative decrease, as TCP does): each prompt
answer raises it by one, up to the plan, so it doubles every round trip; a slow answer cuts it
by a third, at most once per quarter timeout. An answer is slow past a quarter of the timeout,
or twice the fastest answer of the batch if that is more (a gateway that always takes a second
is slow, not congested: fewer probes in flight would not make it faster), but never past half
the timeout. A probe older than half a timeout stops counting: a hanging instance costs nothing
while it waits, and must not hold back the prompt ones (it still holds its worker, so the
plan's concurrency bounds the sockets).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# The batch starts with this many young probes beside the ones expected to hang.
START = 64
# It never goes below this many young probes.
FLOOR = 16
# A slow answer multiplies the limit by this.
CUT = 0.7


class Pace:
    """The limit on young probes of one batch: ``slot()`` waits for room, ``answered()`` moves the limit."""

    def __init__(self, ceiling: int, timeout: float, likely_hangs: int = 0) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = float(min(self.ceiling, max(FLOOR, likely_hangs + START)))
        self.timeout = timeout
        self.fastest = timeout
        self.age_out = timeout / 2  # a probe this old no longer counts as young
        self.young = 0
        self.cuts = 0
        self._last_cut = -timeout
        self._waiting: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a young probe's place until it is answered or grows old."""
        loop = asyncio.get_running_loop()
        while self.young >= int(self.limit):
            waiter = loop.create_future()
            self._waiting.append(waiter)
            await waiter
        self.young += 1
        left = False

        def leave() -> None:
            nonlocal left
            if not left:
                left = True
                self.young -= 1
                self._wake()

        aged = loop.call_later(self.age_out, leave)
        try:
            yield
        finally:
            aged.cancel()
            leave()

    def _wake(self) -> None:
        room = int(self.limit) - self.young
        while room > 0 and self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a cancelled waiter gave its turn up
                waiter.set_result(None)
                room -= 1

    @property
    def slow(self) -> float:
        """Return how long an answer may take before the batch is going too fast."""
        return min(self.timeout / 2, max(self.timeout / 4, 2 * self.fastest))

    def answered(self, seconds: float) -> None:
        """Move the limit by one answered probe that took ``seconds``."""
        self.fastest = min(self.fastest, seconds)
        if seconds <= self.slow:
            self.limit = min(float(self.ceiling), self.limit + 1)
            self._wake()
            return
        now = time.monotonic()
        if now - self._last_cut >= self.timeout / 4:
            self.limit = max(float(min(FLOOR, self.ceiling)), self.limit * CUT)
            self._last_cut = now
            self.cuts += 1
