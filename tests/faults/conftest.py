"""What the fault tests share: a database the test and its portal processes both use, and their logs.

The suite's own test database cannot be shared with another process on SQLite (it lives in
memory), so each fault test gets a fresh, migrated database of the suite's engine (a file on
SQLite, a new database on PostgreSQL) and points Django's default connection in this process
at it for the test's duration; its children get the same database through their environment.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import load_backend

from tests.faults.processes import PostgresCluster, why_no_private_postgres


@contextmanager
def default_database(settings_dict: dict[str, Any]) -> Iterator[None]:
    """Point this thread's default connection at ``settings_dict``, migrated; restore the suite's afterwards."""
    configured = connections.configure_settings({DEFAULT_DB_ALIAS: settings_dict})[DEFAULT_DB_ALIAS]
    suites = connections[DEFAULT_DB_ALIAS]
    ours = load_backend(configured["ENGINE"]).DatabaseWrapper(configured, DEFAULT_DB_ALIAS)
    connections[DEFAULT_DB_ALIAS] = ours
    try:
        call_command("migrate", verbosity=0)
        call_command("createcachetable", verbosity=0)  # the circuit breakers' shared cache without Redis
        yield
    finally:
        ours.close()
        connections[DEFAULT_DB_ALIAS] = suites


def database_url(db: dict[str, Any]) -> str:
    auth = quote(db["USER"] or "postgres") + (":" + quote(db["PASSWORD"]) if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'])}"


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Where the children write their output (shown when a test fails)."""
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def portal_database(django_db_blocker: Any, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh database of the suite's engine, shared with the portal processes; yields their env for it."""
    base = copy.deepcopy(settings.DATABASES[DEFAULT_DB_ALIAS])
    with django_db_blocker.unblock():
        if base["ENGINE"] == "django.db.backends.sqlite3":
            path = str(tmp_path / "portal.sqlite3")
            with default_database({**base, "NAME": path}):
                yield {"SQLITE_PATH": path}
            return
        name = f"faults_{secrets.token_hex(4)}"
        configured = connections.configure_settings({DEFAULT_DB_ALIAS: base})[DEFAULT_DB_ALIAS]
        server = load_backend(base["ENGINE"]).DatabaseWrapper(configured, DEFAULT_DB_ALIAS)
        with server._nodb_cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        try:
            db = {**base, "NAME": name}
            with default_database(db):
                yield {"DATABASE_URL": database_url(db)}
        finally:
            with server._nodb_cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            server.close()


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of our own, which a test may stop and start (never the machine's server)."""
    reason = why_no_private_postgres()
    if reason:
        pytest.skip(reason)
    cluster = PostgresCluster().init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_postgres_database(private_postgres: PostgresCluster, django_db_blocker: Any) -> Iterator[dict[str, str]]:
    """The private cluster's database, migrated, as this process's default database; yields the children's env."""
    db = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": str(private_postgres.port),
    }
    with django_db_blocker.unblock(), default_database(db):
        yield {"DATABASE_URL": private_postgres.url}
