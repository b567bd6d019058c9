"""The small cast shared by every test module."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings

from instances.models import ApiKey, Instance, Status

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


# The fake Slack, the SMTP server and alert builders, for every module that needs them.
from tests.fixtures_channels import (  # noqa: E402, F401
    _no_proxy,
    fake_slack,
    fake_slack_bot,
    make_alert,
    make_message,
    smtp_server,
)
