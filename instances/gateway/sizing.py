"""How many probes to keep in flight, and how long a batch may take: sized from the fleet.

A probe holds its slot for one round trip when the instance answers, and for a whole timeout
when it hangs. So the batch needs a slot for every instance that may hang plus enough slots
for the prompt ones to all get through within half a timeout; then the whole fleet fits in
about one timeout, and no probe fails for having waited in line. The plan is capped by a sane
maximum, by ``EVOLUTION_CONCURRENCY`` when it is set (a gateway that must not see more), and by
the file descriptors this process may open (one socket per probe in flight).

The batch's budget (after which probes not yet started fail as "não verificada") is six
timeouts, what the one-minute cycle can afford. The plan fits in at most one and a half when
nothing caps it; the rest is room for a loaded machine, which the pacing (``pacing.py``) waits
for instead of failing prompt instances (measured: 10,000 probes on a 2-core machine shared
with other work answered about 350 a second, 28 s). So the budget is only spent when far more
instances hang than the plan allowed for, when a cap keeps the concurrency under what the
fleet needs, or when the machine is too slow for the fleet; ``expected`` says which.
"""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass

# Never more probes in flight than this: past it the client's own event loop, not the
# gateway, sets the pace (bench/probe_client.py) and a real gateway sees a connection storm.
MAX_CONCURRENCY = 2000
# File descriptors left to the rest of the process (database, cache, logs, the worker).
FD_RESERVE = 256
# Instances beyond the ones that failed last time that may hang now (a share of the fleet).
HANG_ALLOWANCE = 0.05
# The prompt probes should all have started within this share of one timeout.
PROMPT_SHARE_OF_TIMEOUT = 0.5
# What one prompt probe is assumed to take (seconds) until the client has measured its gateway.
DEFAULT_LATENCY = 0.25
# The budget, in timeouts.
BUDGET_TIMEOUTS = 6.0


@dataclass(frozen=True)
class ProbePlan:
    """How one batch of probes runs."""

    probes: int
    concurrency: int
    budget: float  # seconds from the batch's start after which probes not yet started fail
    expected: float  # seconds the batch should take if every allowed-for hang does hang
    wanted: int  # the concurrency the fleet needs, before any cap
    capped_by: str = ""  # "", "maximum", "setting" or "file descriptors"


def descriptor_room(reserve: int = FD_RESERVE) -> int | None:
    """Return how many sockets this process may still open for probes, or None without a limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(1, soft - reserve)


def batch_duration(probes: int, concurrency: int, hangs: int, latency: float, timeout: float) -> float:
    """Return how long ``probes`` take through ``concurrency`` slots when ``hangs`` of them hang first.

    The hanging ones go first (the cycle orders last cycle's failures first) and each holds its
    slot for a full timeout; the prompt ones flow through the slots left, ``latency`` each.
    """
    hangs = min(hangs, probes)
    prompt = probes - hangs
    if concurrency > hangs:
        rounds = -(-prompt // (concurrency - hangs))  # prompt probes one after another in a slot
        return max(timeout if hangs else 0.0, rounds * latency)
    waves = -(-hangs // concurrency)
    # The last wave of hangers leaves ``concurrency * waves - hangs`` slots to the prompt ones
    # for a timeout; ignoring that head start keeps the figure an upper bound.
    return waves * timeout + -(-prompt // concurrency) * latency


def plan_probes(
    probes: int,
    timeout: float,
    latency: float = DEFAULT_LATENCY,
    likely_hangs: int = 0,
    cap: int | None = None,
    descriptors: int | None = None,
) -> ProbePlan:
    """Size one batch: ``probes`` instances, ``likely_hangs`` of them failed last time (probed first).

    ``latency`` is what a prompt probe takes (seconds); ``cap`` the operator's
    ``EVOLUTION_CONCURRENCY``; ``descriptors`` the sockets this process may open (None: no limit).
    """
    if probes < 1 or timeout <= 0:
        raise ValueError(f"a batch needs probes >= 1 and timeout > 0, got {probes} and {timeout}")
    latency = min(max(latency, 0.0), timeout)
    hangs = min(probes, max(0, likely_hangs) + math.ceil(HANG_ALLOWANCE * probes))
    prompt = probes - hangs
    room = math.ceil(prompt * latency / (PROMPT_SHARE_OF_TIMEOUT * timeout)) if prompt else 0
    wanted = max(1, min(probes, hangs + max(room, 1 if prompt else 0)))
    limits = {"maximum": MAX_CONCURRENCY}
    if cap is not None:
        limits["setting"] = max(1, cap)
    if descriptors is not None:
        limits["file descriptors"] = max(1, descriptors)
    capped_by, limit = min(limits.items(), key=lambda item: item[1])
    concurrency = min(wanted, limit)
    expected = batch_duration(probes, concurrency, hangs, latency, timeout)
    budget = BUDGET_TIMEOUTS * timeout
    return ProbePlan(probes, concurrency, budget, expected, wanted, capped_by if concurrency < wanted else "")
