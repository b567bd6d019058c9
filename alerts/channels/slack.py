"""Slack channel: an incoming webhook, or a bot token posting with ``chat.postMessage``.

Every outcome maps to the delivery contract: 429 → ``retry_after``; 5xx, timeouts and
connection errors → transient; a gone webhook, bad token or unknown channel → permanent.
The transport never retries nor sleeps (slack-sdk's retry handlers are switched off):
delivery owns retries, backoff and the one-message-a-second pace.
"""

from __future__ import annotations

import hashlib
import http.client
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError
from slack_sdk.webhook import WebhookClient

from alerts.channels import render
from alerts.channels.base import Item, Message, Receipt, Transport, TransportError
from alerts.choices import AlertState, Channel, NotificationKind
from julia_monitor.lib import text

HEADER_MAX = 150  # Block Kit: header text is plain_text, at most 150 characters
SECTION_MAX = 3000  # Block Kit: section mrkdwn, at most 3000 characters
MENTION = "<!channel> "

# Web API errors worth trying again; any other ``ok: false`` means the setup is wrong
# (invalid_auth, channel_not_found, not_in_channel, account_inactive, …) and retrying
# the same request cannot help. https://api.slack.com/methods/chat.postMessage#errors
TRANSIENT_API_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def interactive() -> bool:
    """Whether posts carry the Reconhecer / Resolver buttons.

    Only a bot posts messages it can later rewrite (``chat.update``), and only a signing secret
    lets the portal trust the button presses Slack relays; an incoming webhook stays as it was.
    """
    return bool(settings.SLACK_SIGNING_SECRET and settings.SLACK_BOT_TOKEN and not settings.SLACK_WEBHOOK_URL)


# Calls made while Slack waits on a button press (it gives up after 3 s): kept short.
INTERACTIVE_TIMEOUT = 2


def web_client(timeout: int | None = None) -> WebClient:
    return WebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=settings.SLACK_API_URL,
        timeout=min(timeout or settings.SLACK_TIMEOUT, settings.SLACK_TIMEOUT),
        retry_handlers=[],
    )


class SlackTransport(Transport):
    channel = Channel.SLACK

    def is_configured(self) -> bool:
        return bool(settings.SLACK_WEBHOOK_URL or settings.SLACK_BOT_TOKEN)

    def config_fingerprint(self) -> str:
        if settings.SLACK_WEBHOOK_URL:
            raw = f"webhook|{settings.SLACK_WEBHOOK_URL}"
        else:
            raw = f"bot|{settings.SLACK_API_URL}|{settings.SLACK_BOT_TOKEN}|{settings.SLACK_CHANNEL}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def send(self, message: Message) -> Receipt | None:
        if not message.items:
            return None  # nothing to say: an empty post would only be noise
        text, blocks = build(message)
        try:
            if settings.SLACK_WEBHOOK_URL:
                self._send_webhook(text, blocks)
                return None  # a webhook post cannot be found again: no receipt
            return self._send_api(text, blocks)
        # urllib's URLError, socket timeouts and resets are all OSError; a truncated answer
        # is an HTTPException. Slack may or may not have posted: retrying is the safe side.
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"Slack inacessível: {exc}") from exc

    # Both senders set ``mrkdwn: false``: the fallback text carries outside text, and with it
    # Slack shows ``*zap*`` as written; ``<!channel>`` and ``<url>`` are still understood.
    # https://api.slack.com/methods/chat.postMessage#arg_mrkdwn

    def _send_webhook(self, text: str, blocks: list[dict[str, Any]]) -> None:
        client = WebhookClient(settings.SLACK_WEBHOOK_URL, timeout=settings.SLACK_TIMEOUT, retry_handlers=[])
        try:
            # WebhookClient returns HTTP errors (429, 404, 5xx) as a response, it does not raise.
            response = client.send_dict({"text": text, "blocks": blocks, "mrkdwn": False})
        except SlackRequestError as exc:
            raise TransportError(f"URL do webhook do Slack inválida: {exc}", permanent=True) from exc
        if 200 <= response.status_code < 300:
            return
        raise _http_error(response.status_code, response.headers, str(response.body or "").strip())

    def _send_api(self, text: str, blocks: list[dict[str, Any]]) -> Receipt | None:
        try:
            response = web_client().chat_postMessage(
                channel=settings.SLACK_CHANNEL, text=text, blocks=blocks, mrkdwn=False
            )
        except SlackApiError as exc:
            # WebClient raises unless it got HTTP 200 with ``ok: true``.
            response = exc.response
            data = response.data if isinstance(response.data, dict) else {}
            error = str(data.get("error") or "")
            if response.status_code != 200:
                raise _http_error(response.status_code, response.headers, error) from exc
            permanent = error not in TRANSIENT_API_ERRORS and not error.startswith("Received a response")
            raise TransportError(
                f"Slack recusou a mensagem: {error or 'erro desconhecido'}", permanent=permanent
            ) from exc
        except SlackRequestError as exc:
            raise TransportError(f"configuração do Slack inválida: {exc}", permanent=True) from exc
        except SlackClientError as exc:
            raise TransportError(f"erro do cliente Slack: {exc}") from exc
        channel, ts = response.get("channel"), response.get("ts")
        return Receipt(str(channel), str(ts)) if channel and ts else None


def update_post(receipt: Receipt, message: Message) -> None:
    """Rewrite a post in place (``chat.update``) with the alerts as they are now; raise ``TransportError``."""
    text, blocks = build(message)
    try:
        web_client(INTERACTIVE_TIMEOUT).chat_update(channel=receipt.channel, ts=receipt.ts, text=text, blocks=blocks)
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        raise TransportError(f"Slack recusou a atualização: {data.get('error') or 'erro desconhecido'}") from exc
    except (SlackClientError, OSError, http.client.HTTPException) as exc:
        raise TransportError(f"Slack inacessível: {exc}") from exc


def _http_error(status: int, headers: Mapping[str, Any], error: str) -> TransportError:
    """Map a non-2xx Slack answer to the contract's transient / rate-limited / permanent."""
    detail = f"Slack respondeu HTTP {status}" + (f": {error[:200]}" if error else "")
    if status == 429:
        return TransportError(detail, retry_after=_retry_after(headers))
    # 408 and 5xx are Slack's own trouble; 404 no_service, 403 invalid_token, 410
    # channel_is_archived, 400 invalid_payload will fail the same way every time.
    if status == 408 or status >= 500 or status < 400:
        return TransportError(detail)
    return TransportError(detail, permanent=True)


# A 429 without a readable Retry-After still is a rate limit: wait this long, never spend a retry.
DEFAULT_RETRY_AFTER = 30.0


def _retry_after(headers: Mapping[str, Any]) -> float:
    """Return Slack's ``Retry-After`` in seconds (header names arrive in any case)."""
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                return DEFAULT_RETRY_AFTER
    return DEFAULT_RETRY_AFTER


# --- Block Kit -----------------------------------------------------------------------------
#
# Outside text (instance names, titles and reasons that quote them, gateway errors) only ever
# goes into ``plain_text`` objects, which Slack shows as written: mrkdwn has no escape for
# ``*bold*``, ``_it_``, ``~s~`` or backticks, so a name like "*zap*" would be bold in any
# mrkdwn text. mrkdwn carries only the portal's own words: links, the ``<!channel>`` mention,
# the footer. https://api.slack.com/reference/block-kit/composition-objects#text


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves for links and mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(text: str, limit: int = SECTION_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": _clip(text, limit), "emoji": True}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": _plain(text, HEADER_MAX)}


def _said(text: str, link: tuple[str, str] | None = None) -> dict[str, Any]:
    """A section of outside text, shown as written; ``link`` (url, label) becomes a button beside it."""
    block: dict[str, Any] = {"type": "section", "text": _plain(text)}
    if link is not None:
        url, label = link
        block["accessory"] = {"type": "button", "text": _plain(label, 75), "url": url}
    return block


def _ours(text: str) -> dict[str, Any]:
    """A section of the portal's own mrkdwn (links, the mention): never outside text."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_MAX)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


ACKNOWLEDGE = "reconhecer"  # action_id of the buttons; their value is the alert's id
RESOLVE = "resolver"


def _button(action_id: str, label: str, alert_id: int, style: str = "") -> dict[str, Any]:
    button = {"type": "button", "action_id": action_id, "text": _plain(label, 75), "value": str(alert_id)}
    if style:
        button["style"] = style
    return button


def _actions(item: Item) -> list[dict[str, Any]]:
    """What a reader can do about one alert from Slack, or what someone already did.

    A firing alert gets both buttons; an acknowledged one says by whom and keeps Resolver; a
    resolved one only says so. Nothing without ``interactive()`` or on a resolution item.
    """
    alert = item.alert
    if not interactive() or item.kind == NotificationKind.RESOLVED:
        return []
    pk, blocks = alert.pk, []
    if alert.state == AlertState.RESOLVED:
        who = f" por {alert.resolved_by.get_username()}" if alert.resolved_by else ""
        at = f" às {text.hour_minute(alert.resolved_at)}" if alert.resolved_at else ""
        return [{"type": "context", "elements": [_plain(f"{render.RESOLVED_EMOJI} Resolvido{who}{at}", 300)]}]
    buttons = [_button(RESOLVE, "Resolver", pk)]
    if alert.state == AlertState.ACKNOWLEDGED:
        who = f" por {alert.acknowledged_by.get_username()}" if alert.acknowledged_by else ""
        at = f" às {text.hour_minute(alert.acknowledged_at)}" if alert.acknowledged_at else ""
        blocks.append({"type": "context", "elements": [_plain(f"✅ Reconhecido{who}{at}", 300)]})
    else:
        buttons.insert(0, _button(ACKNOWLEDGE, "Reconhecer", pk, "primary"))
    blocks.append({"type": "actions", "block_id": f"alerta-{pk}", "elements": buttons})
    return blocks


def _line(v: render.ItemView) -> str:
    """One alert in a grouped message, as written (its link is the section's button)."""
    lead = f"{v.emoji} {v.lead}: {v.title} ({v.tail})" if v.lead else f"{v.emoji} {v.title}"
    if v.kind == NotificationKind.RESOLVED:
        return lead
    return f"{lead} — {_clip(v.reason, 500)} · desde {v.since}"


def _detail(v: render.ItemView) -> str:
    """The body of a single-alert message, as written."""
    lines = [f"Instância: {v.instance}", f"Motivo: {v.reason}", f"Desde: {v.since}"]
    if v.kind == NotificationKind.RESOLVED:
        lines.append(f"Duração: {v.duration}")
    return "\n".join(lines)


def build(message: Message) -> tuple[str, list[dict[str, Any]]]:
    """Return the fallback text and the Block Kit blocks of a message.

    ``text`` is what notifications and old clients show, so it carries everything the
    blocks say; it is sent with ``mrkdwn: false`` (see ``payload``). An urgent message starts
    both with ``<!channel>`` so the mention pings.
    """
    mention = MENTION if message.urgent else ""
    shown, left_out = render.views(message)
    items = render.ordered(message)  # the same order as ``shown``
    footer = " · ".join(
        p for p in (render.fleet_line(message), f"Julia Monitor · {text.moment(message.created_at)}") if p
    )
    if len(shown) == 1 and not left_out:
        v = shown[0]
        blocks = [
            _header(v.headline),
            _said(_detail(v)),
            _ours(f"{mention}<{v.url}|Abrir no portal>"),
            *_actions(items[0]),
            _context(footer),
        ]
        fallback = f"{mention}{escape(v.headline)}: {escape(v.reason)} (desde {v.since}) {v.url}"
        return fallback, blocks

    blocks = [_header(render.summary(message))]
    if mention:
        blocks.append(_ours(mention.strip()))
    for v, item in zip(shown, items, strict=False):
        blocks += [_said(_line(v), (v.url, "Abrir")), *_actions(item)]
    if left_out:
        blocks.append(_ours(f"{render.more_line(left_out)} · <{render.alerts_url()}|ver todos>"))
    blocks.append(_context(footer))
    lines = [f"{escape(_line(v))} {v.url}" for v in shown]
    if left_out:
        lines.append(f"{render.more_line(left_out)}: {render.alerts_url()}")
    fallback = f"{mention}{render.summary(message)}\n" + "\n".join(lines)
    return fallback, blocks
