"""Hostile instance names through the real pipeline: rules, the outbox, and every channel.

An instance is banned, the rules open the alert and delivery sends it to the log, the fake
Slack (real slack-sdk) and the fake SMTP server. Whatever the name, the log gets exactly one
``[ALERTA]`` line, Slack cannot format, link or mention with it, the subject stays one line
and the HTML escapes it.
"""

from __future__ import annotations

import logging

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from alerts.delivery import deliver_due
from alerts.models import Alert
from alerts.rules import evaluate
from instances.gateway.states import Observation
from instances.models import Instance, Status
from julia_monitor.lib.logs import OneLineFormatter
from tests.alerts.support import no_sleep
from tests.alerts.test_channel_slack import text_objects

HOSTILE_NAMES = [
    "zap\n[ALERTA] Instância zap-99 BANIDA: forjado",
    "zap\r\n[ALERTA] forjado",
    "zap\u2028[ALERTA] forjado",
    "zap\x1b[2K\x1b[1Azap",
    "*negrito*",
    "_itálico_",
    "~riscado~",
    "`código`",
    "```bloco```",
    "<!channel>",
    "<https://exemplo.invalid|clique>",
    "<script>alert(1)</script>",
    "zap 'aspas' \"duplas\" & cia",
]


@pytest.fixture
def ban(make_instance, fake_slack, smtp_server, settings):
    """Ban an instance of that name; its alert is evaluated and delivered to every channel."""
    settings.CHANNEL_MIN_INTERVAL_SECONDS = 0

    def run(name: str) -> Instance:
        instance = make_instance(name, status=Status.CONNECTED)
        instance.observe(Observation(Status.BANNED, "conta suspensa (403)", code=403), timezone.now())
        evaluate()
        deliver_due(sleep=no_sleep)
        return instance

    return run


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_log_has_exactly_one_alert_line_per_alert(ban, name, caplog):
    with caplog.at_level(logging.INFO, logger="alerts"):
        ban(name)
    assert name in Alert.objects.get().title  # the alert names it as it is
    lines = [line for line in caplog.text.splitlines() if "[ALERTA" in line]
    assert len(lines) == 1, lines
    # The production formatter, too: one line whatever a record carries.
    [record] = [r for r in caplog.records if r.getMessage().startswith("[ALERTA]")]
    record.msg, record.args = f"[ALERTA] {name}: {name}", ()  # as if a log call forgot to escape
    formatter = OneLineFormatter(django_settings.LOGGING["formatters"]["plain"]["format"])
    assert len(formatter.format(record).splitlines()) == 1


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_slack_shows_the_name_as_written_and_never_as_markup(ban, name, fake_slack):
    ban(name)
    [post] = fake_slack.wait_for(1)
    texts = text_objects(post.blocks)
    # The name reaches Slack only inside plain_text, which Slack does not parse…
    assert any(name in t["text"] for t in texts if t["type"] == "plain_text")
    assert not any("zap" in t["text"] or name in t["text"] for t in texts if t["type"] == "mrkdwn")
    # …and the fallback text is not parsed as mrkdwn; its <, > and & are escaped.
    assert post.body["mrkdwn"] is False
    assert "<!channel>" not in post.text and "<https://exemplo" not in post.text and "<script>" not in post.text


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_email_subject_is_one_line_and_the_html_escapes_the_name(ban, name, smtp_server):
    ban(name)
    [mail] = smtp_server.wait_for(1)
    assert mail.subject.startswith("[Julia Monitor] 🚨 Instância ")
    assert not any(c in mail.subject for c in "\r\n\x1b\u2028")
    assert "<script>" not in mail.html and "<!channel>" not in mail.html
    if "<script>" in name:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
