"""A real local SMTP server that stands in for the mail relay in tests.

It speaks real SMTP on 127.0.0.1 (an ephemeral port), so Django's SMTP backend and the real
smtplib are exercised; refused credentials or recipients are scripted instead of mocked.
"""

from __future__ import annotations

import email
import email.policy
import logging
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.fakes.common import wait_for_items

# aiosmtpd logs every SMTP command at INFO: noise in a failing test's output.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ReceivedEmail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    received_at: float

    @property
    def subject(self) -> str:
        # Django folds a long encoded subject onto a continuation line ("Subject: \n =?utf-8?…");
        # unfolding leaves a leading space that mail clients drop, and so do we.
        return str(self.message["Subject"]).strip()

    @property
    def text(self) -> str:
        return self._part("plain")

    @property
    def html(self) -> str:
        return self._part("html")

    def _part(self, subtype: str) -> str:
        part = self.message.get_body((subtype,))
        # SMTP carries CRLF line ends; tests read text as Python writes it.
        return part.get_content().replace("\r\n", "\n") if part is not None else ""  # type: ignore[union-attr]


class _EphemeralController(Controller):
    """aiosmtpd's Controller, bound to port 0: read the real port before its readiness probe."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """A real SMTP server on a local port that keeps what it receives.

    AUTH is offered (without TLS, it is local) and succeeds with ``credentials`` (any
    login if None) unless ``reject_auth()``; ``reject_recipients()`` refuses every RCPT.
    """

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.messages: list[ReceivedEmail] = []
        self._cond = threading.Condition()
        self._auth_ok = True
        self._rcpt_reply: str | None = None
        self._controller = _EphemeralController(
            self,
            hostname="127.0.0.1",
            port=0,
            server_hostname="localhost",  # skip getfqdn(): a DNS lookup per start
            authenticator=self._authenticate,
            auth_require_tls=False,
        )

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._controller.port

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reject_auth(self) -> None:
        self._auth_ok = False

    def reject_recipients(self, reply: str = "550 5.1.1 Destinatário desconhecido") -> None:
        self._rcpt_reply = reply

    def recover(self) -> None:
        self._auth_ok, self._rcpt_reply = True, None

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedEmail]:
        return wait_for_items(self._cond, self.messages, n, timeout, "email(s)")

    # aiosmtpd hooks
    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not self._auth_ok or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if self.credentials is None:
            return AuthResult(success=True)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        return AuthResult(success=(login, password) == self.credentials, handled=False)

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self._rcpt_reply:
            return self._rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        received = ReceivedEmail(str(envelope.mail_from), list(envelope.rcpt_tos), message, time.time())  # type: ignore[arg-type]
        with self._cond:
            self.messages.append(received)
            self._cond.notify_all()
        return "250 Message accepted for delivery"
