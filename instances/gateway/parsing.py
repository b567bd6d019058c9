"""Reading Evolution's answers: both API shapes (v2 and v1), timestamps, JIDs and error bodies.

Never log a ``fetchInstances`` body: it carries every instance's token in clear (docs/evolution.md §1).
A row the portal cannot store or show is rejected with its reason (``instances.gateway.validation``),
never passed on: one bad row must not stop the fleet's check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from instances.gateway.errors import GatewayErrorKind, GatewayUnavailable, InstanceRequestFailed, ProbeFailure
from instances.gateway.validation import (
    RejectedRow,
    escape_text,
    name_problem,
    number_problem,
    safe_label,
    usable_code,
)


@dataclass(frozen=True)
class GatewayInstance:
    """One row of ``fetchInstances`` (a database row: its status can lag the live state)."""

    name: str
    phone_number: str = ""
    connection_status: str = ""
    disconnection_code: int | None = None
    disconnection_at: datetime | None = None
    disconnection_reason: str = ""


def text_of(value: Any) -> str:
    """Return a string from the gateway, stripped, its control characters escaped ("" if not a string)."""
    return escape_text(value.strip()) if isinstance(value, str) else ""


def _code(value: Any) -> int | None:
    """Return a disconnection code given as a number or digits; garbage or out of range reads as none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return usable_code(value)
    digits = value.strip() if isinstance(value, str) else ""
    # A length cap before int(): Python refuses to convert strings of thousands of digits.
    if digits.isascii() and digits.isdigit() and len(digits) <= 6:
        return usable_code(int(digits))
    return None


def parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def phone_from_jid(value: Any) -> str:
    """Return the digits of ``5511…@s.whatsapp.net`` (or ``5511…:12@…``, a device JID)."""
    user = text_of(value).split("@", 1)[0].split(":", 1)[0].lstrip("+")
    return user if user.isdigit() else ""


def disconnection_detail(raw: Any) -> str:
    """Return a short reason from ``disconnectionObject``: a JSON *string* holding a Baileys Boom."""
    obj = raw
    if isinstance(raw, str):
        try:
            obj = json.loads(raw)
        except ValueError:
            return ""
    error = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(error, dict):
        return ""
    data = error.get("data")
    if isinstance(data, dict) and isinstance(data.get("content"), list):
        # A stream error: {"tag":"stream:error","content":[{"tag":"conflict","attrs":{"type":"device_removed"}}]}
        for node in data["content"]:
            if isinstance(node, dict) and isinstance(node.get("attrs"), dict) and node["attrs"].get("type"):
                return f"{text_of(node.get('tag')) or 'erro'}: {text_of(node['attrs']['type'])}"[:200]
    output = error.get("output")
    payload = output.get("payload") if isinstance(output, dict) else None
    return text_of(payload.get("message"))[:200] if isinstance(payload, dict) else ""


def parse_instance_row(row: Any) -> GatewayInstance | None:
    """Parse a v2 row (``name``, ``connectionStatus``…) or a v1 ``{"instance": {...}}`` row; None if rejected."""
    read = read_instance_row(row)
    return read if isinstance(read, GatewayInstance) else None


def read_instance_row(row: Any, position: int = 0) -> GatewayInstance | RejectedRow:
    """Return a v2 or v1 row as a ``GatewayInstance``, or why it was rejected (name, number, types)."""
    where = f"linha {position + 1} da lista"
    if not isinstance(row, dict):
        return RejectedRow(where, "não é um objeto JSON")
    inner = row.get("instance")
    v1 = "name" not in row and isinstance(inner, dict)
    source = inner if v1 and isinstance(inner, dict) else row
    raw_name = source.get("instanceName" if v1 else "name")
    if isinstance(raw_name, str):
        raw_name = raw_name.strip()
    problem = name_problem(raw_name)
    if problem:
        label = f"instância {safe_label(raw_name)}" if isinstance(raw_name, str) and raw_name else where
        return RejectedRow(label, problem)
    name = str(raw_name)
    numbers = [source.get("owner")] if v1 else [row.get("number"), row.get("ownerJid")]
    problem = next((p for p in map(number_problem, numbers) if p), "")
    if problem:
        return RejectedRow(f"instância {safe_label(name)}", problem)
    if v1:
        return GatewayInstance(name, phone_from_jid(source.get("owner")), text_of(source.get("status")))
    code = _code(row.get("disconnectionReasonCode"))
    return GatewayInstance(
        name=name,
        phone_number=phone_from_jid(row.get("number")) or phone_from_jid(row.get("ownerJid")),
        connection_status=text_of(row.get("connectionStatus")),
        disconnection_code=code,
        disconnection_at=parse_datetime(row.get("disconnectionAt")),
        disconnection_reason=disconnection_detail(row.get("disconnectionObject")) if code else "",
    )


def parse_connection_state(body: Any) -> tuple[str | None, int | None]:
    """Return (state, code) from ``{"instance": {"instanceName", "state"}}`` or the early v1 ``{"state"}``.

    A missing state means the instance is in the database but not loaded: ``unknown``.
    """
    if not isinstance(body, dict):
        raise InstanceRequestFailed(ProbeFailure.BAD_BODY)
    if body.get("error") is True:
        raise InstanceRequestFailed(ProbeFailure.ERROR_BODY, text_of(body.get("message"))[:200])
    nested = body.get("instance")
    inner = nested if isinstance(nested, dict) else body
    if "instance" not in body and "state" not in body:
        raise InstanceRequestFailed(ProbeFailure.BAD_BODY)
    state = inner.get("state")
    if state is not None and not isinstance(state, str):
        raise InstanceRequestFailed(ProbeFailure.BAD_BODY, f"estado não é texto ({type(state).__name__})")
    return (text_of(state) or None) if isinstance(state, str) else None, _code(
        inner.get("statusReason") or body.get("statusReason")
    )


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def raise_for_gateway(response: httpx.Response) -> None:
    """Raise ``GatewayUnavailable`` for answers that concern the whole gateway."""
    status = response.status_code
    if status == 401:
        raise GatewayUnavailable(GatewayErrorKind.UNAUTHORIZED, http_status=status)
    if status == 503:
        body = json_or_none(response)
        if isinstance(body, dict) and body.get("code") == "LICENSE_REQUIRED":
            raise GatewayUnavailable(GatewayErrorKind.LICENSE_REQUIRED, http_status=status)
    if status >= 500:
        raise GatewayUnavailable(GatewayErrorKind.SERVER_ERROR, f"HTTP {status}", http_status=status)
