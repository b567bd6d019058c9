"""Sizing a probe batch from the fleet: bounds, the budget, and a simulated batch that fits the plan.

``plan_probes`` is pure; these tests check it against its own promises for any fleet, timeout
and latency, and against an event-by-event simulation of the batch (slots, hanging probes
first, prompt probes flowing through the rest). The real batch against the simulator is in
``test_gateway_fleet.py``.
"""

from __future__ import annotations

import heapq
import math
import resource

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instances.gateway import EvolutionClient
from instances.gateway.sizing import (
    BUDGET_TIMEOUTS,
    HANG_ALLOWANCE,
    MAX_CONCURRENCY,
    batch_duration,
    descriptor_room,
    plan_probes,
)

fleets = st.integers(min_value=1, max_value=50_000)
timeouts = st.floats(min_value=0.1, max_value=60.0)
latencies = st.floats(min_value=0.0, max_value=10.0)
caps = st.none() | st.integers(min_value=1, max_value=5_000)


def simulated_batch(probes: int, concurrency: int, hangs: int, latency: float, timeout: float) -> float:
    """Run the batch slot by slot: the ``hangs`` go first and hold a slot for a timeout each."""
    free_at = [0.0] * concurrency  # when each slot is next free
    end = 0.0
    for position in range(probes):
        start = heapq.heappop(free_at)
        done = start + (timeout if position < hangs else latency)
        end = max(end, done)
        heapq.heappush(free_at, done)
    return end


@settings(max_examples=300)
@given(
    probes=fleets,
    timeout=timeouts,
    latency=latencies,
    failing=st.integers(min_value=0, max_value=50_000),
    cap=caps,
    descriptors=caps,
)
def test_a_plan_stays_within_its_bounds(probes, timeout, latency, failing, cap, descriptors) -> None:
    plan = plan_probes(probes, timeout, latency, min(failing, probes), cap=cap, descriptors=descriptors)

    limit = min(MAX_CONCURRENCY, cap or MAX_CONCURRENCY, descriptors or MAX_CONCURRENCY)
    assert 1 <= plan.concurrency <= min(probes, limit)
    assert plan.concurrency == min(plan.wanted, limit)
    assert bool(plan.capped_by) == (plan.concurrency < plan.wanted)
    assert plan.budget == BUDGET_TIMEOUTS * timeout
    # The plan fits its budget; only a cap can make it too slow for it.
    if plan.expected > plan.budget:
        assert plan.capped_by


@settings(max_examples=300)
@given(probes=fleets, timeout=timeouts, latency=latencies, failing=st.integers(min_value=0, max_value=50_000))
def test_an_uncapped_fleet_fits_in_about_one_timeout(probes, timeout, latency, failing) -> None:
    failing = min(failing, probes)
    plan = plan_probes(probes, timeout, latency, failing)
    if plan.capped_by:
        return  # over the maximum: the next test
    hangs = min(probes, failing + math.ceil(HANG_ALLOWANCE * probes))

    assert plan.concurrency >= hangs  # every instance that may hang has a slot of its own
    if hangs < probes:
        assert plan.concurrency > hangs  # and the prompt ones have room beside them
    latency = min(latency, timeout)
    # Hanging ones take one timeout; the prompt ones have all started within half of one.
    assert plan.expected <= max(timeout, 0.5 * timeout + latency) + 1e-9
    assert plan.expected <= plan.budget / 4  # the rest is room for a loaded machine


@settings(max_examples=200)
@given(
    probes=st.integers(min_value=1, max_value=3_000),
    timeout=timeouts,
    latency=latencies,
    failing=st.integers(min_value=0, max_value=4_000),
    cap=caps,
    hanging_share=st.floats(min_value=0.0, max_value=1.0),
)
def test_the_plan_is_an_upper_bound_of_the_batch_it_plans(
    probes, timeout, latency, failing, cap, hanging_share
) -> None:
    failing = min(failing, probes)
    plan = plan_probes(probes, timeout, latency, failing, cap=cap)
    allowed = min(probes, failing + math.ceil(HANG_ALLOWANCE * probes))
    hangs = min(allowed, math.floor(hanging_share * (allowed + 1)))  # any number up to the allowance

    ran = simulated_batch(probes, plan.concurrency, hangs, min(latency, timeout), timeout)

    assert ran <= plan.expected + 1e-9
    if not plan.capped_by:
        assert ran <= plan.budget  # the budget cuts nobody: only a cap can make it too short


def test_ten_thousand_instances_with_five_hundred_hanging_fit_in_one_timeout() -> None:
    plan = plan_probes(10_000, 5.0, latency=0.1, likely_hangs=500)

    # 500 failed last time + 500 allowed for; 9,000 prompt ones at 0.1 s need 360 slots.
    assert (plan.concurrency, plan.capped_by, plan.expected) == (1_360, "", 5.0)
    assert plan.budget == 30.0
    assert simulated_batch(10_000, plan.concurrency, 1_000, 0.1, 5.0) <= 5.0


def test_a_small_fleet_gets_a_small_batch() -> None:
    plan = plan_probes(12, 5.0, latency=0.25)

    assert plan.concurrency == 3  # one for a possible hang, two for the prompt eleven
    assert plan.expected == 5.0


def test_the_operators_cap_and_the_descriptors_hold_and_are_named() -> None:
    assert plan_probes(10_000, 5.0, 0.1, 500, cap=100).capped_by == "setting"
    assert plan_probes(10_000, 5.0, 0.1, 500, cap=100).concurrency == 100
    assert plan_probes(10_000, 5.0, 0.1, 500, descriptors=768).capped_by == "file descriptors"
    assert plan_probes(100_000, 5.0, 0.5).capped_by == "maximum"
    # Capped far below need, the plan says it will not fit the budget.
    assert plan_probes(10_000, 5.0, 0.1, 500, cap=100).expected > 30.0


@pytest.mark.parametrize(("probes", "timeout"), [(0, 5.0), (-1, 5.0), (10, 0.0), (10, -1.0)])
def test_an_impossible_batch_is_refused(probes: int, timeout: float) -> None:
    with pytest.raises(ValueError, match="probes >= 1 and timeout > 0"):
        plan_probes(probes, timeout)


def test_the_descriptor_room_follows_the_process_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        assert descriptor_room() == 1024 - 256
        assert EvolutionClient("http://127.0.0.1:9", "k", timeout=5).plan(10_000, 500).capped_by == "file descriptors"
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_batch_duration_counts_waves_of_hangers_when_they_outnumber_the_slots() -> None:
    assert batch_duration(1_000, 100, 300, 0.1, 5.0) == pytest.approx(3 * 5.0 + 7 * 0.1)
    assert batch_duration(1_000, 100, 0, 0.1, 5.0) == pytest.approx(10 * 0.1)
    assert batch_duration(1_000, 1_000, 50, 4.0, 5.0) == 5.0  # every probe in its own slot
