"""Pacing a probe batch: the limit on young probes follows the answers, within its bounds.

``Pace`` is driven here with explicit answer times (its rate) and, for the slots, on a real
event loop with a short timeout: a probe that holds its slot past half a timeout stops
counting, so hanging instances never hold back the prompt ones for longer.
"""

from __future__ import annotations

import asyncio
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from instances.gateway.pacing import START, Pace


@settings(max_examples=200)
@given(
    ceiling=st.integers(min_value=1, max_value=3_000),
    timeout=st.floats(min_value=0.1, max_value=30.0),
    likely_hangs=st.integers(min_value=0, max_value=5_000),
    probes=st.integers(min_value=0, max_value=20_000),
    gaps=st.lists(st.floats(min_value=0.0, max_value=2.0), max_size=300),
)
def test_the_limit_stays_between_the_opening_and_the_plan(ceiling, timeout, likely_hangs, probes, gaps) -> None:
    pace = Pace(ceiling, timeout, likely_hangs, probes)
    assert pace.opening == min(ceiling, START + min(likely_hangs, probes // 10))

    now = 0.0
    for gap in gaps:
        now += gap
        pace.answered(now)
        assert pace.opening <= pace.limit <= ceiling
        # Little's law: the answers of the last quarter timeout, a quarter timeout's worth in flight.
        recent = len(pace._answers)
        assert pace.limit == min(ceiling, max(pace.opening, int(recent / pace.window * pace.window)))


def test_prompt_answers_raise_the_limit_and_a_stall_brings_it_back_to_the_opening() -> None:
    pace = Pace(ceiling=2_000, timeout=4.0)
    for i in range(1_000):  # 1,000 answers a second for one second
        pace.answered(i / 1_000)
    assert pace.limit == 1_000  # 1,000 a second, times a quarter timeout (1 s)

    pace.answered(10.0)  # nothing answered for nine seconds
    assert pace.limit == START


def test_after_a_cycle_where_everything_failed_the_batch_does_not_open_with_everything() -> None:
    assert Pace(ceiling=2_000, timeout=5.0, likely_hangs=10_000, probes=10_000).opening == START + 1_000
    assert Pace(ceiling=2_000, timeout=5.0, likely_hangs=300, probes=10_000).opening == START + 300


async def _hold(pace: Pace, seconds: float, started: list[float]) -> None:
    async with pace.slot():
        started.append(time.monotonic())
        await asyncio.sleep(seconds)


def test_hanging_probes_stop_counting_after_half_a_timeout() -> None:
    async def batch() -> tuple[float, list[float]]:
        pace = Pace(ceiling=3, timeout=0.4)  # three young probes at most; they age out at 0.2 s
        started: list[float] = []
        t0 = time.monotonic()
        hangers = [asyncio.create_task(_hold(pace, 0.4, started)) for _ in range(3)]
        await asyncio.sleep(0.01)
        await _hold(pace, 0.0, started)  # a prompt probe behind three hanging ones
        await asyncio.gather(*hangers)
        return t0, started

    t0, started = asyncio.run(batch())

    assert len(started) == 4
    assert 0.15 < started[-1] - t0 < 0.35  # it waited for them to age out, not for their timeout


def test_a_waiting_probe_that_is_cancelled_gives_its_turn_up() -> None:
    async def batch() -> list[float]:
        pace = Pace(ceiling=1, timeout=1.0)
        started: list[float] = []
        first = asyncio.create_task(_hold(pace, 0.05, started))
        await asyncio.sleep(0)
        cancelled = asyncio.create_task(_hold(pace, 0.0, started))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        await _hold(pace, 0.0, started)
        await first
        assert pace.young == 0
        return started

    assert len(asyncio.run(batch())) == 2
