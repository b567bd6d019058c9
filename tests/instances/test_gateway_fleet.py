"""A large fleet against the real simulator: only the hanging instances fail, within about one timeout.

The simulator runs in its own process, as a real gateway does, so its thousands of answers do
not compete with the client for one interpreter. Each test sends the whole batch once through
``EvolutionClient.aprobe_all`` as the check cycle does (last cycle's failures first).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from instances.gateway import EvolutionClient, ProbeFailure, ProbeResult
from tests.faults.processes import ROOT
from tests.instances.support import API_KEY

SERVE = """
import json, sys
from instances.simulator import GatewaySimulator
count, share = int(sys.argv[1]), float(sys.argv[2])
sim = GatewaySimulator(api_key=sys.argv[3], latency=(0.005, 0.03), hang_share=share, seed=11)
for i in range(1, count + 1):
    sim.add_instance(f"frota-{i:05d}", state="open")
with sim:
    print(json.dumps({"url": sim.url, "hanging": sim.hanging()}), flush=True)
    sys.stdin.read()
"""

# Longer than the suite's usual probe timeout: 2,000 probes at once on a loaded 2-core machine
# (the client and the simulator each get a fraction of a core) take a second or two to answer.
TIMEOUT = 5.0


@dataclass
class Fleet:
    url: str
    names: list[str]
    hanging: set[str]


def serve_fleet(count: int, hang_share: float) -> Iterator[Fleet]:
    child = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(count), str(hang_share), API_KEY],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        hello = json.loads(child.stdout.readline())
        names = [f"frota-{i:05d}" for i in range(1, count + 1)]
        yield Fleet(hello["url"], names, set(hello["hanging"]))
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """2,000 instances, 700 of them hanging: seven times what the sizing allows for unannounced.

    A fixed 100 probes in flight (the client before it sized itself) needs seven timeouts for
    the hangers alone, past its budget of six: it failed 1,300 prompt instances here.
    """
    yield from serve_fleet(2_000, 0.35)


def probe(fleet: Fleet, names: list[str], likely_hangs: int) -> tuple[float, set[str], dict[str, ProbeResult]]:
    """Send the batch once; return how long it took, the names that failed, and every result."""
    client = EvolutionClient(fleet.url, API_KEY, timeout=TIMEOUT)
    started = time.monotonic()
    results = asyncio.run(client.aprobe_all(names, likely_hangs))
    elapsed = time.monotonic() - started
    return elapsed, {name for name, result in results.items() if not result.ok}, results


def test_only_the_hanging_instances_fail_and_the_fleet_takes_about_two_timeouts(fleet) -> None:
    # The steady cycle: last cycle's 700 failures go first.
    names = sorted(fleet.names, key=lambda name: name not in fleet.hanging)

    elapsed, failed, results = probe(fleet, names, likely_hangs=len(fleet.hanging))

    assert len(fleet.hanging) == 700
    assert failed == fleet.hanging
    # Each timed out on its own: none is "não verificada" for want of time in the batch.
    assert {(results[name].failure, results[name].error) for name in failed} == {
        (ProbeFailure.TIMEOUT, f"sem resposta a tempo ({TIMEOUT:g}s)")
    }
    # The pacing opens with 64 probes plus the announced hangers, at most a tenth of the batch
    # (264 here), and a hanger stops counting after half a timeout: the 700 leave in three waves
    # half a timeout apart, so the last ones time out about two timeouts in, the prompt ones
    # answered meanwhile. Far inside the batch's budget of six timeouts.
    assert elapsed < 2.5 * TIMEOUT


def test_hangs_nobody_announced_fail_alone(fleet) -> None:
    # The first cycle: nothing failed before, and the hangers are spread through the batch, 5 %
    # of it as the sizing allows for unannounced (the 1,300 prompt instances and 68 hangers).
    hanging = sorted(fleet.hanging)[:68]
    names = sorted([name for name in fleet.names if name not in fleet.hanging] + hanging)

    elapsed, failed, _results = probe(fleet, names, likely_hangs=0)

    assert failed == set(hanging)
    assert elapsed < 3 * TIMEOUT
