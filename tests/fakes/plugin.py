"""The fake outside services as fixtures: Slack and an SMTP server, real local servers (see slack.py and smtp.py).

Registered for the whole suite by ``pytest_plugins`` in tests/conftest.py; the channels are pointed at them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings

from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import SmtpServer

ALERT_EMAILS = ["ops@example.com", "plantao@example.com"]


@pytest.fixture
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack-sdk honours HTTP(S)_PROXY: never route a local fake through a proxy."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
def fake_slack(settings: Settings, _no_proxy: None) -> Iterator[FakeSlack]:
    """A fake Slack, with the channel configured for its incoming webhook."""
    with FakeSlack() as slack:
        settings.SLACK_WEBHOOK_URL = slack.url_webhook
        settings.SLACK_BOT_TOKEN = ""
        settings.SLACK_API_URL = slack.url_api
        settings.SLACK_TIMEOUT = 2
        yield slack


@pytest.fixture
def fake_slack_bot(settings: Settings, _no_proxy: None) -> Iterator[FakeSlack]:
    """A fake Slack, with the channel configured for a bot token posting to ``#julia-alertas``."""
    with FakeSlack(token="xoxb-test-token", channels={"#julia-alertas"}) as slack:
        settings.SLACK_WEBHOOK_URL = ""
        settings.SLACK_BOT_TOKEN = slack.token
        settings.SLACK_CHANNEL = "#julia-alertas"
        settings.SLACK_API_URL = slack.url_api
        settings.SLACK_TIMEOUT = 2
        yield slack


@pytest.fixture
def smtp_server(settings: Settings) -> Iterator[SmtpServer]:
    """A real SMTP server, with Django's SMTP backend and ``ALERT_EMAILS`` pointed at it."""
    with SmtpServer() as server:
        # pytest-django swaps in the locmem backend; the email channel must really talk SMTP.
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = server.host
        settings.EMAIL_PORT = server.port
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 2
        settings.ALERT_EMAILS = list(ALERT_EMAILS)
        yield server
