"""Email channel: one email per message to ``ALERT_EMAILS`` through Django's mail framework.

SMTP errors map to the delivery contract by their reply code: 4xx is SMTP's own "try again
later" (greylisting, a full mailbox, 454 temporary auth failure); 5xx and refused
credentials, sender or recipients mean the configuration is wrong and retrying cannot help.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string

from alerts.channels import render
from alerts.channels.base import Message, Transport, TransportError
from alerts.choices import Channel
from julia_monitor.lib import text

SUBJECT_PREFIX = "[Julia Monitor]"


class EmailTransport(Transport):
    channel = Channel.EMAIL

    def is_configured(self) -> bool:
        return bool(settings.ALERT_EMAILS)

    def config_fingerprint(self) -> str:
        # Everything an operator may change to fix a permanent error (a new password, a
        # new sender) must change the fingerprint, so the channel is tried again.
        raw = "|".join(
            [
                settings.EMAIL_HOST,
                str(settings.EMAIL_PORT),
                settings.EMAIL_HOST_USER,
                hashlib.sha256(settings.EMAIL_HOST_PASSWORD.encode()).hexdigest(),
                str(settings.EMAIL_USE_TLS),
                str(settings.EMAIL_USE_SSL),
                settings.DEFAULT_FROM_EMAIL,
                ",".join(sorted(settings.ALERT_EMAILS)),
            ]
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def send(self, message: Message) -> None:
        if not message.items:
            return
        if not settings.ALERT_EMAILS:
            # Django would "send" to nobody and report success: that would lose the alert.
            raise TransportError("nenhum destinatário em ALERT_EMAILS", permanent=True)
        subject, text, html = render_email(message)
        email = EmailMultiAlternatives(
            subject,
            text,
            settings.DEFAULT_FROM_EMAIL,
            list(settings.ALERT_EMAILS),
            connection=get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT),
        )
        email.attach_alternative(html, "text/html")
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            # Raised only when every recipient was refused; codes per recipient.
            codes = [code for code, _ in exc.recipients.values()]
            temporary = bool(codes) and all(400 <= code < 500 for code in codes)
            raise TransportError(f"destinatários recusados: {_refusals(exc)}", permanent=not temporary) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise TransportError(f"servidor SMTP desconectou: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            # Covers auth, sender refused, connect and data errors: the reply code decides.
            raise TransportError(_describe(exc), permanent=not 400 <= exc.smtp_code < 500) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise TransportError(f"servidor SMTP não suporta o exigido: {exc}", permanent=True) from exc
        except ssl.SSLCertVerificationError as exc:
            raise TransportError(f"certificado do servidor SMTP inválido: {exc}", permanent=True) from exc
        # Refused connections, DNS failures, timeouts; smtplib's own errors are OSError too.
        except OSError as exc:
            raise TransportError(f"servidor SMTP inacessível: {exc}") from exc


def render_email(message: Message) -> tuple[str, str, str]:
    """Return the subject, text body and html body of a message, from one template set."""
    shown, left_out = render.views(message)
    single = len(shown) == 1 and not left_out
    context = {
        "prefix": SUBJECT_PREFIX,
        "single": single,
        "headline": render.headline(message),
        "count": len(message.items),
        "summary_parts": render.summary_parts(message),
        "items": shown,
        "more": render.more_line(left_out) if left_out else "",
        "fleet": render.fleet_line(message),
        "created_at": text.moment(message.created_at),
        "alerts_url": render.alerts_url(),
    }
    # A header must be one line: Django refuses newlines in a subject (header injection), and
    # a name's other control characters (NUL, ESC) are escaped rather than sent.
    subject = text.one_line(" ".join(render_to_string("emails/alert_subject.txt", context).split()))
    body = render_to_string("emails/alert_body.txt", context)
    html = render_to_string("emails/alert_body.html", context)
    return subject, body, html


def _describe(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    kind = {
        smtplib.SMTPAuthenticationError: "autenticação SMTP recusada",
        smtplib.SMTPSenderRefused: "remetente recusado",
        smtplib.SMTPConnectError: "conexão SMTP recusada",
        smtplib.SMTPDataError: "mensagem recusada",
    }.get(type(exc), "erro SMTP")
    return f"{kind}: {exc.smtp_code} {error}".strip()


def _refusals(exc: smtplib.SMTPRecipientsRefused) -> str:
    parts = []
    for address, (code, reply) in exc.recipients.items():
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        parts.append(f"{address} ({code} {text})")
    return "; ".join(parts)
