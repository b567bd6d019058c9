"""Pacing a batch of probes: no more in flight than this process and the gateway turn round in time.

The sizing (``sizing.py``) says how many probes the fleet needs in flight; this keeps the
batch from sending them faster than they are answered. Past what the client's event loop or
the gateway can turn round, more probes in flight only lengthen everyone's wait, until prompt
instances miss their timeout and reconnect, which slows everything further (measured on a
loaded 2-core machine: 3,000 probes all sent at once with a 2 s timeout all failed; paced,
none did).

So the batch keeps a limit on *young* probes (sent less than half a timeout ago), set by
Little's law from the answers themselves: the answers of the last quarter timeout, per second,
times a quarter timeout. While answers are prompt the limit grows (more in flight, more answers
a second), and when this process or the gateway cannot go faster it settles where a probe
waits about a quarter timeout, so a prompt instance does not miss its own even when the
machine stalls for a moment. It never goes under the opening (``START`` plus the expected
hangers, at most a tenth of the batch: after a cycle where everything failed, sending it all at
once is what fails it again), so a slow start cannot starve the batch, and never over the plan.
A probe older than half a timeout stops counting: a hanging instance costs nothing while it
waits (it still holds its worker, so the plan bounds the sockets).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# The batch opens with this many young probes beside the ones expected to hang.
START = 64


class Pace:
    """The limit on young probes of one batch.

    ``slot()`` waits for room; call ``answered()`` inside it, so the room it makes is offered
    to the waiting probes as this one leaves.
    """

    def __init__(self, ceiling: int, timeout: float, likely_hangs: int = 0, probes: int = 0) -> None:
        self.ceiling = max(1, ceiling)
        self.opening = min(self.ceiling, START + min(likely_hangs, probes // 10))
        self.limit = self.opening
        self.window = timeout / 4  # answers counted for the rate, and the wait aimed at
        self.age_out = timeout / 2  # a probe this old no longer counts as young
        self.young = 0
        self._answers: deque[float] = deque()
        self._waiting: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a young probe's place until it is answered or grows old."""
        loop = asyncio.get_running_loop()
        while self.young >= self.limit:
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
        room = self.limit - self.young
        while room > 0 and self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a cancelled waiter gave its turn up
                waiter.set_result(None)
                room -= 1

    def answered(self, now: float | None = None) -> None:
        """Count one answer (at ``now``, monotonic seconds) and set the limit from the answer rate."""
        now = time.monotonic() if now is None else now
        self._answers.append(now)
        while self._answers[0] < now - self.window:
            self._answers.popleft()
        rate = len(self._answers) / self.window
        self.limit = min(self.ceiling, max(self.opening, int(rate * self.window)))
        self._wake()
