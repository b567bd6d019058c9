"""What the fleet's tests share: the gateway simulator, as the portal's gateway, and a fleet on it.

A module about another fleet (the dashboard API, the overview) defines its own ``fleet``, which wins
over this one in that module.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from instances.models import Instance, Status
from tests.instances.support import API_KEY
from tests.support import PROBE_TIMEOUT


@pytest.fixture
def sim() -> Iterator[object]:
    from instances.simulator import GatewaySimulator

    with GatewaySimulator(api_key=API_KEY, seed=1) as simulator:
        yield simulator


@pytest.fixture
def gateway(sim, settings) -> object:
    """The simulator, configured as the portal's gateway with a short probe timeout."""
    settings.EVOLUTION_API_URL = sim.url
    settings.EVOLUTION_API_KEY = API_KEY
    settings.EVOLUTION_TIMEOUT = PROBE_TIMEOUT
    return sim


@pytest.fixture
def fleet(gateway, make_instance) -> list[Instance]:
    """Five instances, connected here and open on the gateway."""
    seen = timezone.now() - timedelta(minutes=1)
    instances = []
    for i in range(1, 6):
        name = f"zap-{i:02d}"
        gateway.add_instance(name, state="open", phone_number=f"55119999900{i:02d}")
        instances.append(make_instance(name, status=Status.CONNECTED, last_seen_connected_at=seen))
    return instances
