"""The log channel: the spec's ``[ALERTA] {titulo}: {mensagem}`` line, at the alert's level."""

from __future__ import annotations

import logging
from datetime import timedelta

from alerts.channels.log import LogTransport
from alerts.choices import NotificationKind, Rule, Severity


def test_each_alert_of_a_batch_is_logged_at_its_severity(make_alert, make_message, caplog):
    banned = make_alert("zap-01")
    offline = make_alert(
        "zap-02", rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, title="Instância zap-02 offline", message="caiu"
    )
    hot = make_alert(
        "zap-03", rule=Rule.CAPACITY_HIGH, severity=Severity.WARNING, title="Capacidade alta: zap-03", message="91%"
    )
    caplog.set_level(logging.INFO, logger="alerts")

    LogTransport().send(make_message(banned, offline, hot))

    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "alerts"] == [
        (logging.CRITICAL, "[ALERTA] Instância zap-01 BANIDA: zap-01 foi banida pelo WhatsApp: conta suspensa (403)."),
        (logging.ERROR, "[ALERTA] Instância zap-02 offline: caiu"),
        (logging.WARNING, "[ALERTA] Capacidade alta: zap-03: 91%"),
    ]


def test_resolutions_and_reminders_are_logged_as_such(make_alert, make_message, caplog):
    offline = make_alert(
        "zap-02", rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, title="Instância zap-02 offline", message="caiu"
    )
    offline.resolved_at = offline.first_seen_at + timedelta(minutes=4)
    banned = make_alert("zap-01", message="banida")
    caplog.set_level(logging.INFO, logger="alerts")

    LogTransport().send(make_message((offline, NotificationKind.RESOLVED), (banned, NotificationKind.REMINDER)))

    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "alerts"] == [
        (logging.INFO, "[ALERTA RESOLVIDO] Instância zap-02 offline: caiu"),
        (logging.CRITICAL, "[ALERTA] Instância zap-01 BANIDA: banida (lembrete)"),
    ]


def test_the_log_is_always_configured(settings):
    settings.SLACK_WEBHOOK_URL = settings.SLACK_BOT_TOKEN = ""
    settings.ALERT_EMAILS = []

    assert LogTransport().is_configured()
