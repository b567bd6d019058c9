"""The worker SIGKILLed in the middle of a check cycle: the cycle's lease keeps the next one
out no longer than it lasts, nothing the dead cycle half-did is kept, the next cycle records
every reading, and the alert it leads to is posted once.

Real processes: ``manage.py check_instances`` against the gateway simulator (a real HTTP
server) made slow, so the cycle is waiting on its probes when the process dies.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from alerts.delivery import deliver_due
from alerts.rules import evaluate
from instances.checks import LEASE_NAME, lease_seconds, run_cycle
from instances.gateway import EvolutionClient
from instances.models import CheckCycle, Instance, MonitorLease, Status, StatusChange
from instances.simulator import GatewaySimulator
from tests.fakes.slack import FakeSlack
from tests.faults.processes import manage, portal_env

API_KEY = "faults-gateway-key"


def no_sleep(seconds: float) -> None:
    pass


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.01)


def test_a_cycle_killed_mid_flight_blocks_the_next_only_for_its_lease_and_loses_nothing(
    portal_database: dict[str, str], fake_slack: FakeSlack, settings: Any, time_machine: Any, logs: Path
) -> None:
    settings.OFFLINE_DEBOUNCE_SECONDS = 0
    settings.CHANNEL_MIN_INTERVAL_SECONDS = 0
    settings.EVOLUTION_API_KEY = API_KEY
    settings.EVOLUTION_TIMEOUT = 5.0
    with GatewaySimulator(api_key=API_KEY) as sim:
        settings.EVOLUTION_API_URL = sim.url
        sim.add_instances(3)
        assert run_cycle().probed == 3  # the fleet, connected, as a healthy worker left it
        assert not evaluate().opened
        before = {i.name: (i.status, i.last_read_at) for i in Instance.objects.all()}

        # A number drops; the worker starts the cycle that would see it, on a slow gateway, and dies.
        sim.set_state("sim-002", "close")
        sim.latency = (1.0, 1.0)
        listed = sim.request_count("/instance/fetchInstances")
        env = portal_env(portal_database, EVOLUTION_API_URL=sim.url, EVOLUTION_API_KEY=API_KEY, EVOLUTION_TIMEOUT="5")
        worker = manage("cycle", "check_instances", env=env, logs=logs)
        try:
            # The fleet was listed and the probes are waiting on the gateway: mid-cycle.
            wait_until(
                lambda: sim.request_count("/instance/fetchInstances") > listed and sim.in_flight() > 0,
                timeout=30,
                what=f"the cycle's probes\n{worker.output()}",
            )
        finally:
            worker.kill()
        sim.latency = (0.0, 0.0)

        # The dead cycle kept nothing half-done: no cycle row, no reading, no change.
        assert CheckCycle.objects.count() == 1
        assert {i.name: (i.status, i.last_read_at) for i in Instance.objects.all()} == before
        lease = MonitorLease.objects.get(name=LEASE_NAME)
        assert lease.holder and lease.expires_at is not None
        assert lease.expires_at - timezone.now() <= timedelta(seconds=lease_seconds(EvolutionClient()))

        # Restarted within the lease, the worker skips the cycle (it cannot tell a dead holder
        # from a slow one)...
        assert run_cycle().skipped
        time_machine.move_to(lease.expires_at - timedelta(seconds=1), tick=True)
        assert run_cycle().skipped
        # ... and once the lease has run out, the next cycle runs and records every reading.
        time_machine.move_to(lease.expires_at + timedelta(seconds=1), tick=True)
        summary = run_cycle()
        assert not summary.skipped and summary.probed == 3 and summary.failures == 0
        assert CheckCycle.objects.count() == 2
        assert Instance.objects.get(name="sim-002").status == Status.DISCONNECTED
        assert set(Instance.objects.filter(status=Status.CONNECTED).values_list("name", flat=True)) == {
            "sim-001",
            "sim-003",
        }
        assert all(i.last_read_at > before[i.name][1] for i in Instance.objects.all())
        assert StatusChange.objects.filter(instance__name="sim-002", new_status=Status.DISCONNECTED).count() == 1

        # Its alert is posted once, and the cycles after it do not post it again.
        assert evaluate().opened
        deliver_due(sleep=no_sleep)
        run_cycle()
        evaluate()
        deliver_due(sleep=no_sleep)
    posts = [post.text for post in fake_slack.messages]
    assert len(posts) == 1 and "sim-002" in posts[0], posts
