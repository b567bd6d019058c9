"""How Evolution API states and disconnect codes map to an instance status.

One place for these rules, used by the poller and the webhooks alike (docs/evolution.md §3):
Evolution stops reconnecting only on 401, 402, 403 and 406; 402/403/406 are bans (community
mapping), 401 is a logout that needs a new QR. Whether a stored code is news for the current
outage is the instance's business (``Instance.has_fresh_disconnection``).
"""

from __future__ import annotations

from instances.models import Status

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
    if status == Status.DISCONNECTED and code in BAN_CODES:
        return Status.BANNED
    return status
