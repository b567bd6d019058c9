"""The cast every folder shares: instances, API keys, alerts, people by role, and a fast password hasher.

Each folder's conftest.py adds what only its modules share; the fake outside services (Slack,
SMTP) are a plugin in tests/fakes/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_q.conf
import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from pytest_django.fixtures import Settings

from alerts.choices import Rule, Severity
from alerts.models import Alert
from instances.checks import CycleSummary, run_cycle
from instances.models import ApiKey, Instance, Status
from instances.simulator import GatewaySimulator
from julia_monitor.roles import assign_role
from tests.faults.processes import RedisServer
from tests.support import FIRST_SEEN, PROBE_TIMEOUT

pytest_plugins = ["tests.fakes.plugin"]

# This process queues tasks on the ORM broker, rolled back with each test, even when REDIS_URL
# makes Redis the production broker (a task pushed to Redis would outlive its test and its
# database). Real qclusters on the Redis broker: tests/faults/test_sharded_qclusters.py.
django_q.conf.Conf.ORM = django_q.conf.Conf.ORM or "default"

# Property-based tests: enough examples to matter in CI, many more nightly
# (``HYPOTHESIS_PROFILE=nightly make test``). Each example is a database-backed incident.
settings.register_profile(
    "ci", max_examples=25, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "nightly", max_examples=1000, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _clean_caches() -> Iterator[None]:
    """Circuit state and cached values never leak from one test into the next."""
    yield
    # The database-backed "shared" cache (no Redis) is rolled back with the test itself.
    for alias in ("default", "shared"):
        if not isinstance(caches[alias], DatabaseCache):
            caches[alias].clear()


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Settings) -> None:
    """The real hasher costs about a second per password on these machines; what is tested is the same."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_instance(db: None) -> Callable[..., Instance]:
    """Create an instance with sane defaults: ``make_instance("zap-01", status=Status.BANNED)``.

    The instance has a fresh reading (the gateway told its state just now) unless
    ``last_read_at`` is given: a stale or missing reading is shown as unknown.
    """

    def make(name: str = "zap-01", **fields: Any) -> Instance:
        fields.setdefault("phone_number", "5511999990001")
        fields.setdefault("status", Status.CONNECTED)
        fields.setdefault("capacity_per_hour", 20)
        fields.setdefault("capacity_per_day", 100)
        fields.setdefault("last_read_at", timezone.now())  # a fresh reading, unless a test says otherwise
        return Instance.objects.create(name=name, **fields)

    return make


@pytest.fixture
def api_key(db: None) -> str:
    """The clear-text secret of a fresh API key."""
    _key, secret = ApiKey.issue("testes")
    return secret


@pytest.fixture
def api_client(client: Client, api_key: str) -> Client:
    """Django's test client that sends a valid ``X-API-Key`` on every request."""
    client.defaults["HTTP_X_API_KEY"] = api_key
    return client


@pytest.fixture
def make_alert(make_instance: Callable[..., Instance]) -> Callable[..., Alert]:
    """Create an alert row directly: ``make_alert("zap-02", rule=Rule.INSTANCE_OFFLINE)``.

    An instance of that name is created on first use; ``instance=None`` makes a fleet alert.
    Defaults: a ban of zap-01, first seen at ``FIRST_SEEN``.
    """

    def make(name: str | None = "zap-01", **fields: Any) -> Alert:
        instance = None
        if name is not None:
            instance = Instance.objects.filter(name=name).first() or make_instance(name)
        rule = fields.setdefault("rule", Rule.INSTANCE_BANNED)
        fields.setdefault("severity", Severity.CRITICAL)
        fields.setdefault("title", f"Instância {name} BANIDA")
        fields.setdefault("message", f"{name} foi banida pelo WhatsApp: conta suspensa (403).")
        fields.setdefault("first_seen_at", FIRST_SEEN)
        fields.setdefault("key", f"{rule}:{instance.pk if instance else 'frota'}")
        return Alert.objects.create(instance=instance, **fields)

    return make


# --- People, one per role (instances/roles.py), and a client logged in as each -----------------------
# The logged-in clients are pytest-django's one ``client``: a test asking for two of them gets the last login.
# A module whose assertions name its operator differently overrides ``operator_name``.


@pytest.fixture
def viewer(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user("leitor")
    assign_role(user, "visualizador")
    return user


@pytest.fixture
def operator_name() -> str:
    return "operadora"


@pytest.fixture
def operator(django_user_model: type[User], operator_name: str) -> User:
    user = django_user_model.objects.create_user(operator_name)
    assign_role(user, "operador")
    return user


@pytest.fixture
def administrator(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user("administradora")
    assign_role(user, "administrador")
    return user


@pytest.fixture
def as_viewer(client: Client, viewer: User) -> Client:
    client.force_login(viewer)
    return client


@pytest.fixture
def as_operator(client: Client, operator: User) -> Client:
    client.force_login(operator)
    return client


@pytest.fixture
def as_administrator(client: Client, administrator: User) -> Client:
    client.force_login(administrator)
    return client


SIMULATOR_KEY = "simulator-key"


@pytest.fixture
def simulated_fleet(settings: Settings, make_instance: Callable[..., Instance]) -> Iterator[GatewaySimulator]:
    """zap-01…03 open on a simulated gateway (PROBE_TIMEOUT), known here as connected for five minutes."""
    settings.EVOLUTION_API_KEY = SIMULATOR_KEY
    settings.EVOLUTION_TIMEOUT = PROBE_TIMEOUT
    with GatewaySimulator(api_key=SIMULATOR_KEY, seed=1) as sim:
        settings.EVOLUTION_API_URL = sim.url
        seen = timezone.now() - timedelta(minutes=5)
        for n in (1, 2, 3):
            sim.add_instance(f"zap-0{n}", state="open", phone_number=f"551199999000{n}")
            make_instance(f"zap-0{n}", status=Status.CONNECTED, status_since=seen, last_seen_connected_at=seen)
        yield sim


@pytest.fixture
def worker(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> Callable[[], AbstractContextManager]:
    """``with worker():`` runs what the portal queues on commit inline, as the django-q2 worker would."""
    monkeypatch.setattr(django_q.conf.Conf, "SYNC", True)
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def cycle(worker: Callable[[], AbstractContextManager]) -> Callable[[], CycleSummary]:
    """One check cycle as the every-minute schedule runs it, then what it queues (the alert evaluation)."""

    def run() -> CycleSummary:
        with worker():
            return run_cycle()

    return run


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server of the test's own (never the machine's, which others use), stopped at the end."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server não está instalado nesta máquina")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
