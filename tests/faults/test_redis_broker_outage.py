"""Redis, the task broker, goes away under a running ``qcluster`` and comes back: the worker resumes
by itself and the next minute's shards run, without a restart.

Real processes: a private redis-server that the test kills and starts again on the same port, a
``manage.py qcluster`` with CHECK_SHARDS=2 on it, PostgreSQL, the gateway simulator.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from django_q.models import Schedule

from instances.models import CheckRound
from instances.simulator import GatewaySimulator
from tests.faults.processes import RedisServer, manage, portal_env
from tests.faults.test_sharded_qclusters import QUEUE_THE_MINUTE, closed_rounds, wait_until

API_KEY = "faults-gateway-key"

pytestmark = pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the worker and the test share PostgreSQL (SQLite serialises every writer)",
)


def test_the_worker_resumes_by_itself_when_the_redis_broker_returns(
    portal_database: dict[str, str], redis_server: RedisServer, logs: Path
) -> None:
    with GatewaySimulator(api_key=API_KEY) as sim:
        sim.add_instances(4)
        env = portal_env(
            portal_database,
            EVOLUTION_API_URL=sim.url,
            EVOLUTION_API_KEY=API_KEY,
            EVOLUTION_TIMEOUT="2",
            REDIS_URL=redis_server.url,
            CHECK_SHARDS="2",
            LOG_LEVEL="INFO",
        )
        Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))  # the test queues each minute
        worker = manage("qcluster", "qcluster", env=env, logs=logs)
        try:

            def minute(number: int) -> None:
                tick = manage(f"minute-{number}", "shell", "-c", QUEUE_THE_MINUTE, env=env, logs=logs)
                assert tick.wait(timeout=60) == 0, tick.output()
                wait_until(lambda: len(closed_rounds()) == number, 90, f"round {number}", [worker])

            minute(1)
            redis_server.stop()
            # The worker notices: its pusher cannot pull a task, and gives up to be restarted.
            wait_until(lambda: "Failed to pull task from broker" in worker.output(), 60, "the outage", [worker])
            redis_server.start()  # same port, empty: nothing queued survived
            minute(2)
        finally:
            worker.stop()

    assert [sorted(r.cycles.values_list("shard", flat=True)) for r in closed_rounds()] == [[0, 1], [0, 1]]
    assert CheckRound.objects.count() == 2
