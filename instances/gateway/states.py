"""How Evolution API states and disconnect codes map to an instance status.

One place for these rules, used by the poller and the webhooks alike (docs/evolution.md §3):
Evolution stops reconnecting only on 401, 402, 403 and 406; 402/403/406 are bans (community
mapping), 401 is a logout that needs a new QR. Whether a stored code is news for the current
outage is the instance's business (``Instance.has_fresh_disconnection``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from instances.models import Instance, Status

BAN_CODES = frozenset({402, 403, 406})
LOGGED_OUT_CODE = 401
# Evolution stops reconnecting, and sends a close webhook, only for these codes (408 joined
# them in 2.4.0-rc); only then does a code describe why the number is down.
TERMINAL_CODES = BAN_CODES | {LOGGED_OUT_CODE, 408}

LIVE_STATES = {
    "open": Status.CONNECTED,
    "connecting": Status.CONNECTING,
    "close": Status.DISCONNECTED,
    "closed": Status.DISCONNECTED,  # status.instance says "closed"
    "refused": Status.DISCONNECTED,  # QR limit reached: pairing abandoned
}

CODE_REASONS = {
    401: "sessão encerrada no aparelho (401): precisa de novo QR",
    402: "banimento temporário (402)",
    403: "número bloqueado/banido (403)",
    406: "número banido (406)",
    408: "tempo de conexão esgotado (408)",
    428: "conexão encerrada (428)",
    440: "sessão substituída por outra (440)",
    500: "sessão corrompida (500)",
    503: "serviço do WhatsApp indisponível (503)",
    515: "reinício necessário (515)",
}


def reason_for(code: int | None) -> str:
    if code is None:
        return ""
    return CODE_REASONS.get(code, f"código {code}")


def status_from_state(state: str | None, code: int | None = None) -> Status:
    """Return the status for a live state and, for a close, the reason code that came with it.

    A close whose code is a ban code is a ban; any other code (including 401) is a plain
    disconnection. States Evolution does not document give ``unknown``.
    """
    status = LIVE_STATES.get((state or "").strip().lower(), Status.UNKNOWN)
    if status == Status.DISCONNECTED and is_ban(code):
        return Status.BANNED
    return status


def is_ban(code: int | None) -> bool:
    """Return True if a close with this code means WhatsApp banned the number (not a logout)."""
    return code in BAN_CODES


@dataclass(frozen=True)
class Observation:
    """What one reading says about an instance: its status, why, and the terminal close it reported.

    ``code_at`` is the gateway's own date of that close, on the gateway's clock: it only tells
    one close from another (a retried webhook carries the same one).
    """

    status: Status
    reason: str = ""
    code: int | None = None
    code_at: datetime | None = None


def observed_live(state: str, code: int | None) -> Observation | None:
    """Return what a pushed state (a status webhook) says, or None for a state Evolution does not document.

    Only a terminal code explains a close: Evolution reports the others' closes without one
    and reconnects by itself.
    """
    status = status_from_state(state, code)
    if status == Status.UNKNOWN:
        return None
    if status not in (Status.DISCONNECTED, Status.BANNED):
        return Observation(status)
    if state.strip().lower() == "refused":
        return Observation(status, "pareamento abandonado: limite de QR atingido")
    terminal = code if code in TERMINAL_CODES else None
    return Observation(status, reason_for(code) or "conexão encerrada", code=terminal)


def resolve(state: str | None, code: int | None, instance: Instance) -> Observation:
    """Return the status a probe's answer (``state``, ``code``) means for ``instance``, its gateway row synced.

    The live state decides; the stored disconnection code only explains a close, and only if
    it is news for this outage (``Instance.has_fresh_disconnection``): Evolution never clears
    it, so an old 403 on a re-paired instance says nothing about today's close
    (docs/evolution.md §3.4, §8).
    """
    status = status_from_state(state, code)
    if status != Status.DISCONNECTED:
        return Observation(status, reason_for(code) if status == Status.BANNED else "")
    if instance.has_fresh_disconnection():
        stored = instance.disconnection_code
        return Observation(
            Status.BANNED if is_ban(stored) else Status.DISCONNECTED,
            instance.disconnection_reason or reason_for(stored),
        )
    return Observation(status, reason_for(code))
