"""PostgreSQL restarted under webhook traffic: every webhook is answered in time, the ones that
meet the outage get a 503 Evolution retries, the retries count every message exactly once, and
the portal works again as soon as the database is back.

Real processes: a private PostgreSQL cluster (stopped and started by the test), gunicorn with
the portal's WSGI app, and an HTTP client posting ``send.message`` webhooks at a steady pace.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.db import connection
from django.db.models import Sum

from instances.models import Instance, SentMessage, Status, UsageBucket
from tests.fakes.common import closed_port
from tests.faults.processes import WEBHOOK_SECRET, PostgresCluster, gunicorn, portal_env, wait_until_serving

THREADS = 4  # gunicorn's threads: each keeps its own database connection
CLIENT_TIMEOUT = 10.0  # "answered within a bound": nothing may hang past this
STREAM = 100  # webhooks in the steady stream
PACE = 0.03  # seconds between two webhooks of the stream
INSTANCES = ["zap-01", "zap-02"]
# What Evolution gives up on at once (docs/evolution.md): a webhook answered so is lost.
NOT_RETRIED = {400, 401, 403, 404, 422}


@dataclass
class Answer:
    index: int
    status: int | None  # None: no answer (timeout, connection error)
    seconds: float
    body: dict[str, object] | str
    sent_at: float  # time.monotonic() when the request started


def webhook(index: int) -> bytes:
    return json.dumps(
        {
            "event": "send.message",
            "instance": INSTANCES[index % len(INSTANCES)],
            "data": {
                "key": {"remoteJid": f"55119{index:08d}@s.whatsapp.net", "fromMe": True, "id": f"3EB0FAULT{index:08d}"},
                "message": {"conversation": "Sua consulta de amanhã está confirmada."},
                "messageType": "conversation",
                "messageTimestamp": int(time.time()),
            },
        }
    ).encode()


class Evolution:
    """Posts webhooks the way Evolution does: one request per event, retried while not 2xx."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT)
        self.lock = threading.Lock()

    def post(self, index: int) -> Answer:
        started = time.monotonic()
        try:
            response = self.http.post(
                "/webhooks/evolution",
                content=webhook(index),
                headers={"X-Webhook-Secret": WEBHOOK_SECRET, "Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            return Answer(index, None, time.monotonic() - started, repr(exc), started)
        try:
            body: dict[str, object] | str = response.json()
        except ValueError:
            body = response.text[:500]
        return Answer(index, response.status_code, time.monotonic() - started, body, started)

    def health(self) -> tuple[int, dict[str, object], float]:
        started = time.monotonic()
        response = self.http.get("/dashboard/health")
        return response.status_code, response.json(), time.monotonic() - started


def stream(evolution: Evolution, indexes: range) -> list[Future[Answer]]:
    """Post the webhooks at a steady pace, ``THREADS`` in flight at most, without waiting for answers."""
    pool = ThreadPoolExecutor(max_workers=THREADS)
    futures = []
    for index in indexes:
        futures.append(pool.submit(evolution.post, index))
        time.sleep(PACE)
    pool.shutdown(wait=False)
    return futures


def test_webhooks_survive_a_postgresql_restart_exactly_once(
    private_postgres: PostgresCluster, private_postgres_database: dict[str, str], logs: Path
) -> None:
    for i, name in enumerate(INSTANCES):
        Instance.objects.create(
            name=name,
            phone_number=f"551199990000{i}",
            status=Status.CONNECTED,
            capacity_per_hour=10_000,
            capacity_per_day=100_000,
        )
    connection.close()  # this process is not under test: it holds no connection through the restart
    port = closed_port()
    web = gunicorn(portal_env(private_postgres_database), logs, port, threads=THREADS)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/dashboard/health", web)
        evolution = Evolution(f"http://127.0.0.1:{port}")

        outage: dict[str, float] = {}
        health_during: list[tuple[int, dict[str, object], float]] = []

        def restart_in_the_middle() -> None:
            time.sleep(STREAM * PACE / 4)
            outage["start"] = time.monotonic()
            private_postgres.stop("fast")
            health_during.append(evolution.health())
            time.sleep(1.0)  # long enough for a good part of the stream to meet the outage
            private_postgres.start()
            outage["end"] = time.monotonic()

        restarter = threading.Thread(target=restart_in_the_middle)
        restarter.start()
        answers = [f.result() for f in stream(evolution, range(STREAM))]
        restarter.join()

        # Every webhook was answered, in time.
        assert all(a.status is not None for a in answers), [a for a in answers if a.status is None]
        assert max(a.seconds for a in answers) < CLIENT_TIMEOUT
        failed = [a for a in answers if a.status != 200]
        # The outage was met (or the test proves nothing), and answered with a retryable 503 in
        # pt-BR JSON, never a 500 with a stack trace nor a status Evolution would drop.
        assert failed, "no webhook met the outage"
        assert {a.status for a in failed} == {503}, [(a.status, a.body) for a in failed]
        assert all(isinstance(a.body, dict) and "indisponível" in str(a.body["detail"]) for a in failed)
        assert not any(a.status in NOT_RETRIED for a in answers)
        # Once the database was back, at most the connections kept from before it failed once each.
        after_restart = [a for a in failed if a.sent_at > outage["end"]]
        assert len(after_restart) <= THREADS, after_restart

        # Health said so at once during the outage: 503 with database false, not a hang or a 500.
        status, body, seconds = health_during[0]
        assert status == 503 and body["checks"]["database"] is False  # type: ignore[index]
        assert seconds < 5

        # Evolution re-sends what was not 2xx; every message is then counted exactly once.
        counted = sum(int(a.body["contabilizadas"]) for a in answers if a.status == 200)  # type: ignore[index]
        for answer in failed:
            retry = evolution.post(answer.index)
            assert retry.status == 200, retry
            counted += int(retry.body["contabilizadas"])  # type: ignore[index]
        # ... and replaying all of them once more (a gateway that retried too eagerly) counts none.
        replayed = [evolution.post(i) for i in range(STREAM)]
        assert {a.status for a in replayed} == {200}
        assert sum(int(a.body["contabilizadas"]) for a in replayed) == 0  # type: ignore[index]

        # The next requests succeed: the connections broken by the restart were not kept.
        fresh = [evolution.post(i) for i in range(STREAM, STREAM + 2 * THREADS)]
        assert {a.status for a in fresh} == {200}
        status, body, _seconds = evolution.health()
        assert body["checks"]["database"] is True  # type: ignore[index]
    finally:
        web.stop()
    assert counted == STREAM
    assert UsageBucket.objects.aggregate(total=Sum("count"))["total"] == STREAM + 2 * THREADS
    assert SentMessage.objects.count() == STREAM + 2 * THREADS
    # Django logs every 500 it served as "Internal Server Error": there must be none.
    assert "Internal Server Error" not in web.output(), web.output()[-3000:]
