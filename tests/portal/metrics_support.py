"""What the /metrics and worker-health tests share: a scrape read back by Prometheus' own parser, a heartbeat."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.test import Client
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Task
from django_q.signing import SignedPackage
from django_q.status import Stat, Status
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "token-de-metricas-com-mais-de-32-caracteres"


def scrape(client: Client, token: str = TOKEN) -> dict[str, Metric]:
    """GET /metrics with the token and return its families by name, as Prometheus parses them."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content[:300]
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def values(family: Metric) -> dict[tuple[str, ...], float]:
    """Return each sample's label values (in label-name order) → value."""
    return {tuple(v for _k, v in sorted(s.labels.items())): s.value for s in family.samples}


def beat(at: datetime, status: str = Conf.IDLE, ttl: int = 60) -> None:
    """Save a cluster status as a running django-q2 cluster does, through its broker, timed ``at``.

    django-q2 keeps it 3 seconds; a longer ``ttl`` keeps a test on Redis (real time) independent
    of how fast the machine is.
    """
    stat = Status(pid=4242, cluster_id=uuid.uuid4())
    stat.status, stat.timestamp = status, at
    get_broker().set_stat(Stat.get_key(stat.cluster_id), SignedPackage.dumps(stat, True), ttl)


def failed_task(stopped: datetime) -> Task:
    """Record a django-q2 task that failed at ``stopped``, as its monitor does."""
    return Task.objects.create(
        id=uuid.uuid4().hex,
        name="falhou",
        func="math.sqrt",
        args=(-1,),
        result="ValueError: math domain error",
        started=stopped - timedelta(seconds=1),
        stopped=stopped,
        success=False,
    )
