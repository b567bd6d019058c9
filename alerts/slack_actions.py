"""Acting on alerts from Slack: the Reconhecer / Resolver buttons of the alert posts.

Slack relays a button press to ``POST /slack/interactions`` as a form with one field,
``payload`` (JSON), signed with the app's signing secret: ``v0=HMAC-SHA256(secret,
"v0:<timestamp>:<raw body>")`` in ``X-Slack-Signature``. Anything unsigned, wrongly signed or
older than five minutes (a replay) is a 401 and changes nothing. A signed press acts as the
portal user behind the Slack member (``SlackIdentity``, else the same e-mail), with the same
permission and the same model calls as the alert pages, then rewrites the post in place.
https://api.slack.com/authentication/verifying-requests-from-slack
https://api.slack.com/reference/interaction-payloads/block-actions
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import SignatureVerifier

from alerts.channels.base import Message, Receipt, TransportError
from alerts.channels.slack import ACKNOWLEDGE, INTERACTIVE_TIMEOUT, RESOLVE, update_post, web_client
from alerts.choices import Channel, Resolution
from alerts.delivery import fleet_context, ordered_items
from alerts.models import Alert, Notification, SlackIdentity
from alerts.views import ACT_PERMISSION, not_done
from julia_monitor.lib import text

logger = logging.getLogger(__name__)

# What the timeline says after "Reconhecido por ana" / "Resolvido por ana".
FROM_SLACK = "pelo Slack"
UNSIGNED = "Requisição sem assinatura válida do Slack (ou fora da janela de 5 minutos)."
MALFORMED = "Interação do Slack malformada: esperado um formulário com o campo payload (JSON de block_actions)."
UNKNOWN_PERSON = (
    "Não encontrei você no Julia Monitor. Peça a um administrador para cadastrar seu ID do Slack no seu usuário"
    " do portal (ou usar no portal o mesmo e-mail do Slack)."
)
NOT_ALLOWED = "Você não tem permissão para reconhecer ou resolver alertas."
GONE = "Este alerta não existe mais no Julia Monitor."


class _Id(BaseModel):
    id: str = Field(min_length=1, max_length=64)


class _Action(BaseModel):
    action_id: str
    value: str = Field(pattern=r"^[0-9]{1,18}$")


class _Container(BaseModel):
    message_ts: str = Field("", max_length=50)
    channel_id: str = Field("", max_length=100)


class Press(BaseModel):
    """The part of a ``block_actions`` payload the portal reads (Slack sends much more)."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(pattern=r"^block_actions$")
    user: _Id
    actions: list[_Action] = Field(min_length=1)
    container: _Container | None = None

    @property
    def action(self) -> _Action:
        return self.actions[0]


def verified(request: HttpRequest) -> bool:
    """Check Slack's signature over the raw body, within five minutes (slack-sdk's verifier)."""
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        return False  # no secret, no way to tell Slack from anyone: nobody is verified
    try:
        return SignatureVerifier(secret).is_valid(
            body=request.body,
            timestamp=request.headers.get("X-Slack-Request-Timestamp"),
            signature=request.headers.get("X-Slack-Signature"),
        )
    except ValueError:  # a timestamp that is not a number, a body that is not UTF-8
        return False


def parse(body: bytes) -> Press:
    """Return the press in the form's ``payload``; raise ValueError when it is not one."""
    fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    payloads = fields.get("payload", [])
    if len(payloads) != 1:
        raise ValueError("no single payload")
    press = Press.model_validate(json.loads(payloads[0]))
    if press.action.action_id not in (ACKNOWLEDGE, RESOLVE):
        raise ValueError("unknown action")
    return press


def _email_on_slack(slack_user_id: str) -> str:
    """Return the member's e-mail from ``users.info`` (scope users:read.email), or "" if Slack will not say."""
    try:
        response = web_client(INTERACTIVE_TIMEOUT).users_info(user=slack_user_id)
    except (SlackApiError, SlackClientError, OSError) as exc:
        logger.warning("Slack users.info failed for %s: %s", text.one_line(slack_user_id), text.one_line(exc))
        return ""
    user: Any = response.get("user") or {}
    return str((user.get("profile") or {}).get("email") or "")


def portal_user(slack_user_id: str) -> User | None:
    """Return the active portal user behind a Slack member, or None.

    An identity set in the admin wins; else one active user with the member's e-mail, whose
    identity is then kept so Slack is asked once. A user whose identity names another member
    is not taken over by an e-mail.
    """
    identity = SlackIdentity.objects.select_related("user").filter(slack_user_id=slack_user_id).first()
    if identity is not None:
        return identity.user if identity.user.is_active else None
    email = _email_on_slack(slack_user_id) if settings.SLACK_BOT_TOKEN else ""
    if not email:
        return None
    found = list(User.objects.filter(email__iexact=email, is_active=True)[:2])
    if len(found) != 1:
        return None  # nobody, or two logins share the e-mail: not for the portal to guess
    user = found[0]
    if SlackIdentity.objects.filter(user=user).exists():
        return None
    try:
        with transaction.atomic():
            SlackIdentity.objects.create(user=user, slack_user_id=slack_user_id, found_by_email=True)
    except IntegrityError:
        pass  # a simultaneous press kept it first
    return user


def _reply(words: str) -> JsonResponse:
    """Answer the presser only; the post and the alert stay as they are."""
    return JsonResponse({"response_type": "ephemeral", "replace_original": False, "text": words})


def refresh_post(press: Press) -> None:
    """Rewrite the pressed post with its alerts as they are now (who acknowledged, what is resolved)."""
    if press.container is None:
        return
    receipt = Receipt(press.container.channel_id, press.container.message_ts)
    if not (receipt.channel and receipt.ts and settings.SLACK_BOT_TOKEN):
        return
    rows = list(
        Notification.objects.filter(channel=Channel.SLACK, posted_channel=receipt.channel, posted_ts=receipt.ts)
        .select_related("alert__instance", "alert__acknowledged_by", "alert__resolved_by")
        .order_by("created_at", "id")
    )
    if not rows:
        return  # not a post the portal knows (sent before posts were kept): it stays as it is
    message = Message(ordered_items(rows), created_at=min(r.created_at for r in rows), context=fleet_context())
    try:
        update_post(receipt, message)
    except TransportError as exc:
        # The alert has changed all the same; the post just keeps its old buttons.
        logger.warning("could not update the Slack post %s: %s", receipt.ts, text.one_line(exc))


@csrf_exempt  # Slack cannot send a CSRF token; its signature is the proof instead
@require_POST
def slack_interactions(request: HttpRequest) -> HttpResponse:
    if not verified(request):
        return JsonResponse({"detail": UNSIGNED}, status=401)
    try:
        press = parse(request.body)
    except (ValueError, ValidationError):
        return JsonResponse({"detail": MALFORMED}, status=400)
    user = portal_user(press.user.id)
    if user is None:
        return _reply(UNKNOWN_PERSON)
    if not user.has_perm(ACT_PERMISSION):
        return _reply(NOT_ALLOWED)
    alert = Alert.objects.filter(pk=int(press.action.value)).first()
    if alert is None:
        return _reply(GONE)
    if press.action.action_id == ACKNOWLEDGE:
        done = alert.acknowledge(user, note=FROM_SLACK)
    else:
        done = alert.resolve(user, note=f"resolvido manualmente {FROM_SLACK}", resolution=Resolution.MANUAL)
    refresh_post(press)
    return HttpResponse(status=200) if done else _reply(not_done(alert))
