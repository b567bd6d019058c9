"""A PostgreSQL server that stops answering (a partition, a frozen host) fails requests in
seconds: a new connection gives up after ``DB_CONNECT_TIMEOUT`` and the request answers 503,
instead of waiting for the operating system's TCP timeout.

The postmaster of a private cluster is frozen with SIGSTOP: the kernel still accepts the TCP
connection, but nobody answers the startup packet, which is what a partition looks like.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from django.db import connection

from tests.fakes.common import closed_port
from tests.faults.processes import PostgresCluster, gunicorn, portal_env, wait_until_serving

CONNECT_TIMEOUT = 1
CLIENT_TIMEOUT = 10.0


def test_a_frozen_database_answers_503_within_the_connect_timeout(
    private_postgres: PostgresCluster, private_postgres_database: dict[str, str], logs: Path
) -> None:
    connection.close()
    port = closed_port()
    # No kept connections: every request opens a new one, as after a restart or a pool refill.
    env = portal_env(private_postgres_database, DB_CONN_MAX_AGE="0", DB_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT))
    web = gunicorn(env, logs, port)
    postmaster = int((private_postgres.data / "postmaster.pid").read_text().split()[0])
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/dashboard/health", web)
        os.kill(postmaster, signal.SIGSTOP)
        try:
            started = time.monotonic()
            response = httpx.get(f"http://127.0.0.1:{port}/dashboard/health", timeout=CLIENT_TIMEOUT)
            seconds = time.monotonic() - started
        finally:
            os.kill(postmaster, signal.SIGCONT)
        assert response.status_code == 503
        assert response.json()["checks"]["database"] is False
        assert seconds < CONNECT_TIMEOUT + 3, f"health took {seconds:.1f} s with the database frozen"

        # Thawed, the next request reads the database again.
        response = httpx.get(f"http://127.0.0.1:{port}/dashboard/health", timeout=CLIENT_TIMEOUT)
        assert response.json()["checks"]["database"] is True
    finally:
        web.stop()
