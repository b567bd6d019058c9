"""The email channel against a real local SMTP server (aiosmtpd) through Django's SMTP backend."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.channels.base import TransportError
from alerts.channels.email import EmailTransport
from alerts.choices import NotificationKind, Rule, Severity
from tests.fakes.common import closed_port


def send_error(message: object) -> TransportError:
    with pytest.raises(TransportError) as caught:
        EmailTransport().send(message)  # type: ignore[arg-type]
    return caught.value


def test_a_ban_reaches_every_recipient_as_text_and_html(smtp_server, make_alert, make_message, settings):
    alert = make_alert("zap-01")

    EmailTransport().send(make_message(alert, online=2, total=3))

    [mail] = smtp_server.wait_for(1)
    assert sorted(mail.rcpt_tos) == ["ops@example.com", "plantao@example.com"]
    assert mail.message["From"] == settings.DEFAULT_FROM_EMAIL
    assert mail.subject == "[Julia Monitor] 🚨 Instância zap-01 BANIDA"
    link = f"{settings.SITE_URL}/alertas/{alert.pk}/"
    for body in (mail.text, mail.html):
        assert "zap-01 foi banida pelo WhatsApp: conta suspensa (403)." in body
        assert "10/03 14:05" in body  # São Paulo time
        assert link in body
        assert "2 de 3 instâncias online" in body
    assert f'<a href="{link}">Abrir no portal</a>' in mail.html


def test_a_batch_is_one_email_listing_each_alert(smtp_server, make_alert, make_message):
    banned = [make_alert(name) for name in ("zap-01", "zap-02")]
    offline = make_alert(
        "zap-03", rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, title="Instância zap-03 offline"
    )
    offline.resolved_at = offline.first_seen_at + timedelta(hours=26)

    EmailTransport().send(make_message(*banned, (offline, NotificationKind.RESOLVED)))

    [mail] = smtp_server.wait_for(1)
    assert mail.subject == "[Julia Monitor] 3 alertas (2 novos, 1 resolvido)"
    assert mail.text.startswith("🚨 2 alertas novos · ✅ 1 resolvido\n")
    assert "🚨 Instância zap-01 BANIDA" in mail.text
    assert "🚨 Instância zap-02 BANIDA" in mail.text
    assert "✅ Resolvido: Instância zap-03 offline (durou 1 d 2 h)" in mail.text
    assert "✅ Resolvido: Instância zap-03 offline (durou 1 d 2 h)" in mail.html


def test_the_subject_is_always_one_line(smtp_server, make_alert, make_message):
    EmailTransport().send(make_message(make_alert(title="Instância\nzap-01\r\nBANIDA")))

    [mail] = smtp_server.wait_for(1)
    assert mail.subject == "[Julia Monitor] 🚨 Instância zap-01 BANIDA"


def test_gateway_text_is_escaped_in_html(smtp_server, make_alert, make_message):
    EmailTransport().send(make_message(make_alert(message="motivo <script>alert(1)</script>")))

    [mail] = smtp_server.wait_for(1)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert "motivo <script>alert(1)</script>" in mail.text


def test_refused_credentials_are_permanent(smtp_server, make_alert, make_message, settings):
    smtp_server.reject_auth()
    settings.EMAIL_HOST_USER = "monitor"
    settings.EMAIL_HOST_PASSWORD = "senha-errada"

    error = send_error(make_message(make_alert()))

    assert error.permanent
    assert "autenticação SMTP recusada: 535" in str(error)
    assert smtp_server.messages == []


def test_refused_recipients_are_permanent(smtp_server, make_alert, make_message):
    smtp_server.reject_recipients("550 5.1.1 Destinatário desconhecido")

    error = send_error(make_message(make_alert()))

    assert error.permanent
    assert "ops@example.com (550" in str(error)


def test_a_greylisted_recipient_is_tried_again_later(smtp_server, make_alert, make_message):
    smtp_server.reject_recipients("451 4.7.1 Tente mais tarde")

    error = send_error(make_message(make_alert()))

    assert not error.permanent


def test_a_mail_server_that_is_down_is_transient(smtp_server, make_alert, make_message, settings):
    settings.EMAIL_PORT = closed_port()

    error = send_error(make_message(make_alert()))

    assert not error.permanent
    assert "servidor SMTP inacessível" in str(error)


def test_email_is_configured_by_its_recipients(settings):
    settings.ALERT_EMAILS = []
    assert not EmailTransport().is_configured()
    settings.ALERT_EMAILS = ["ops@example.com"]
    assert EmailTransport().is_configured()


def test_fixing_the_configuration_changes_the_fingerprint(settings):
    settings.ALERT_EMAILS = ["ops@example.com"]
    before = EmailTransport().config_fingerprint()
    settings.EMAIL_HOST_PASSWORD = "nova-senha"
    after_password = EmailTransport().config_fingerprint()
    settings.ALERT_EMAILS = ["ops@example.com", "plantao@example.com"]
    after_recipients = EmailTransport().config_fingerprint()

    assert len({before, after_password, after_recipients}) == 3
    assert "nova-senha" not in after_password


def test_sending_with_no_recipients_is_a_permanent_error_not_a_silent_success(
    smtp_server, make_alert, make_message, settings
):
    settings.ALERT_EMAILS = []

    error = send_error(make_message(make_alert()))

    assert error.permanent
    assert smtp_server.messages == []
