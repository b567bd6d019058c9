"""The Evolution API JSON shapes the simulator answers and posts.

Facts from ``docs/evolution.md``: rows of ``fetchInstances`` (§2.1, v2 and v1),
``connectionState`` (§2.2), the QR object of ``connect`` (§2.3), error bodies (§2.4, §5) and the
webhook envelope and payloads (§3.3, §4.1, §4.3, §4.4). Pure functions, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Evolution 2.3.x stops reconnecting (a "terminal" close) only for these Baileys codes; only
# such a close writes the row's connectionStatus and disconnection fields and posts webhooks
# (any other close changes just the live state). The simulator plays 2.3.x, so 408, terminal
# from 2.4.0-rc on, is not among them.
CODES_THAT_CLOSE_THE_ROW = frozenset({401, 402, 403, 406})
# The live states a simulated instance can be in: what connectionState answers.
INSTANCE_STATES = ("open", "connecting", "close")
INSTANCE_FAULTS = ("hang", "http500", "error_body", "not_found", "garbage")
# "garbage": 200 with a body that is not JSON (a proxy's page, a truncated answer); "hang": every
# request answered only after hang_seconds.
GATEWAY_FAULTS = ("license_required", "http500", "down", "garbage", "hang")
# What the "garbage" faults answer, with a 200: not JSON at all.
GARBAGE_BODY = b"<html><body>502 Bad Gateway</body></html>\x00{not json"
CLIENT_NAME = "julia_simulator"
VERSIONS = {"v2": "2.3.6", "v1": "1.8.6"}

# A 1x1 transparent PNG: the QR image a client would show.
QR_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhf"
    "DwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

_BOOM_MESSAGES = {
    401: ("Unauthorized", "Log out instance: {name}"),
    402: ("Payment Required", "Connection Failure"),
    403: ("Forbidden", "Connection Failure"),
    406: ("Not Acceptable", "Connection Failure"),
}


def iso(moment: datetime | None) -> str | None:
    """Return the JavaScript ``toISOString()`` form Evolution uses: UTC, milliseconds, ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class SimInstance:
    """One simulated instance: its live (in-memory) state and its database row."""

    name: str
    id: str
    token: str
    phone_number: str
    profile_name: str
    state: str  # live state, what connectionState answers
    row_status: str  # the stored connectionStatus of fetchInstances; lags on non-terminal changes
    created_at: datetime
    updated_at: datetime
    disconnection_code: int | None = None
    disconnection_at: datetime | None = None
    disconnection_object: str | None = None
    fault: str | None = None
    hangs: bool = False  # chosen by hang_share: connectionState sleeps hang_seconds
    messages_sent: int = 0
    qr_count: int = 0

    @property
    def owner_jid(self) -> str | None:
        return f"{self.phone_number}@s.whatsapp.net" if self.phone_number else None


def error_body(status: int, error: str, message: Any) -> dict[str, Any]:
    return {"status": status, "error": error, "response": {"message": message}}


def unauthorized_body() -> dict[str, Any]:
    return error_body(401, "Unauthorized", "Unauthorized")


def instance_not_found_body(name: str) -> dict[str, Any]:
    return error_body(404, "Not Found", [f'The "{name}" instance does not exist'])


def route_not_found_body(method: str, path: str) -> dict[str, Any]:
    return error_body(404, "Not Found", [f"Cannot {method} {path}"])


def internal_error_body() -> dict[str, Any]:
    return error_body(500, "Internal Server Error", "Internal Server Error")


def license_required_body(base_url: str) -> dict[str, Any]:
    return {
        "error": "service not activated",
        "code": "LICENSE_REQUIRED",
        "register_url": f"{base_url}/manager/login",
        "instance_id": "00000000-0000-4000-8000-000000000000",
        "docs_url": "https://doc.evolution-api.com",
        "message": "This Evolution API instance is not activated. Register it to continue.",
    }


def welcome_body(shape: str, base_url: str) -> dict[str, Any]:
    return {
        "status": 200,
        "message": "Welcome to the Evolution API, it is working!",
        "version": VERSIONS[shape],
        "clientName": CLIENT_NAME,
        "manager": f"{base_url}/manager",
        "documentation": "https://doc.evolution-api.com",
    }


def state_body(instance: SimInstance) -> dict[str, Any]:
    return {"instance": {"instanceName": instance.name, "state": instance.state}}


def qr_body(instance: SimInstance, number: str | None) -> dict[str, Any]:
    return {
        "pairingCode": f"SIM{instance.qr_count:05d}" if number else None,
        "code": f"2@simulated-qr-{instance.id}-{instance.qr_count}",
        "base64": QR_PNG,
        "count": instance.qr_count,
    }


def error_flag_body(message: str) -> dict[str, Any]:
    """Evolution's catch-all: HTTP 200 whose body says it failed."""
    return {"error": True, "message": message}


def row_v2(instance: SimInstance) -> dict[str, Any]:
    """Return the Prisma ``Instance`` row as v2 ``fetchInstances`` gives it (§2.1)."""
    return {
        "id": instance.id,
        "name": instance.name,
        "connectionStatus": instance.row_status,
        "ownerJid": instance.owner_jid,
        "profileName": instance.profile_name,
        "profilePicUrl": None,
        "integration": "WHATSAPP-BAILEYS",
        "number": instance.phone_number or None,
        "businessId": None,
        "token": instance.token,
        "clientName": CLIENT_NAME,
        "disconnectionReasonCode": instance.disconnection_code,
        "disconnectionObject": instance.disconnection_object,
        "disconnectionAt": iso(instance.disconnection_at),
        "createdAt": iso(instance.created_at),
        "updatedAt": iso(instance.updated_at),
        "Chatwoot": None,
        "Proxy": None,
        "Rabbitmq": None,
        "Nats": None,
        "Sqs": None,
        "Websocket": None,
        "Setting": {"rejectCall": False, "groupsIgnore": False, "alwaysOnline": False, "syncFullHistory": False},
        "_count": {"Message": instance.messages_sent, "Contact": 0, "Chat": 0},
    }


def row_v1(instance: SimInstance, base_url: str) -> dict[str, Any]:
    """Return the v1 ``fetchInstances`` item: live status, profile fields only when open."""
    data: dict[str, Any] = {"instanceName": instance.name, "instanceId": instance.id}
    if instance.state == "open":
        data.update(
            owner=instance.owner_jid,
            profileName=instance.profile_name,
            profilePictureUrl=None,
            profileStatus="",
        )
    data.update(
        status=instance.state,
        serverUrl=base_url,
        apikey=instance.token,
        chatwoot=None,
        integration={"integration": "WHATSAPP-BAILEYS", "token": instance.token},
    )
    return {"instance": data}


def disconnection_object(code: int, name: str, at: datetime) -> str:
    """Return the serialized Baileys Boom Evolution stores: a JSON *string* (§2.1)."""
    error, message = _BOOM_MESSAGES.get(code, ("Connection Failure", "Connection Failure"))
    if code == 401:
        data: Any = {
            "tag": "stream:error",
            "attrs": {"code": "401"},
            "content": [{"tag": "conflict", "attrs": {"type": "device_removed"}}],
        }
    else:
        data = {"reason": str(code), "location": "frc"}
    boom = {
        "error": {
            "data": data,
            "isBoom": True,
            "isServer": False,
            "output": {
                "statusCode": code,
                "payload": {"statusCode": code, "error": error, "message": message.format(name=name)},
                "headers": {},
            },
        },
        "date": iso(at),
    }
    return json.dumps(boom, separators=(",", ":"))


def envelope(
    event: str, instance: SimInstance, data: Any, destination: str, server_url: str, at: datetime
) -> dict[str, Any]:
    """Return the v2 webhook envelope (§4.1)."""
    return {
        "event": event,
        "instance": instance.name,
        "data": data,
        "destination": destination,
        "date_time": iso(at),
        "sender": instance.owner_jid,
        "server_url": server_url,
        "apikey": instance.token,
    }


def send_message_data(
    instance: SimInstance, message_id: str, remote_jid: str, text: str, at: datetime
) -> dict[str, Any]:
    """Return ``send.message`` data (§4.3): always ``fromMe`` true, epoch-seconds timestamp."""
    return {
        "key": {"remoteJid": remote_jid, "fromMe": True, "id": message_id},
        "pushName": "Você",
        "status": "PENDING",
        "message": {"conversation": text},
        "contextInfo": None,
        "messageType": "conversation",
        "messageTimestamp": int(at.timestamp()),
        "instanceId": instance.id,
        "source": "web",
    }


def connection_update_data(instance: SimInstance, state: str, status_reason: int) -> dict[str, Any]:
    data: dict[str, Any] = {"instance": instance.name, "state": state, "statusReason": status_reason}
    if state == "open":
        data.update(wuid=instance.owner_jid, profileName=instance.profile_name, profilePictureUrl=None)
    return data


def status_instance_data(instance: SimInstance) -> dict[str, Any]:
    return {
        "instance": instance.name,
        "status": "closed",
        "disconnectionAt": iso(instance.disconnection_at),
        "disconnectionReasonCode": instance.disconnection_code,
        "disconnectionObject": instance.disconnection_object,
    }
