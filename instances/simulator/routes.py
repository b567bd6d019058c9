"""How the simulator answers a request: Evolution's routes, auth, faults and error bodies.

A pure function of the request and the gateway's state (the caller holds the simulator's
lock). Order follows Evolution 2.3/2.4: the license gate before the ``apikey`` guard, ``GET /``
public, unknown routes 404 before auth (docs/evolution.md §1, §2, §5).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final, Literal

from instances.simulator import shapes
from instances.simulator.http import Request
from instances.simulator.shapes import SimInstance


class Hang(enum.Enum):
    """The routing result that is not an answer (one member: a sentinel the type checker knows)."""

    HANG = "hang"


HANG: Final = Hang.HANG  # routing result: answer only after hang_seconds
# (status, body), or HANG; a ``bytes`` body is sent as it is (the "garbage" faults), anything else as JSON.
Routed = tuple[int, Any] | Literal[Hang.HANG]


@dataclass(frozen=True)
class Gateway:
    api_key: str
    shape: str
    fault: str | None
    base_url: str
    instances: dict[str, SimInstance]


def route(request: Request, gateway: Gateway, allow_hang: bool) -> Routed:
    """Return (status, body) for a request, or HANG when it must be answered only later."""
    fault = gateway.fault
    if fault == "http500":
        return 500, shapes.internal_error_body()
    if fault == "hang" and allow_hang:
        return HANG
    base_url = gateway.base_url
    parts = request.path.strip("/").split("/")
    if request.path == "/" and request.method == "GET":
        return 200, shapes.welcome_body(gateway.shape, base_url)
    if fault == "license_required":
        return 503, shapes.license_required_body(base_url)
    if fault == "garbage":
        return 200, shapes.GARBAGE_BODY
    action = parts[1] if len(parts) >= 2 and parts[0] == "instance" else ""
    name = parts[2] if len(parts) == 3 else None
    known = (action == "fetchInstances" and len(parts) == 2) or (action in ("connectionState", "connect") and name)
    if not known or request.method != "GET":
        return 404, shapes.route_not_found_body(request.method, request.path)
    instance = gateway.instances.get(name) if name else None
    # Evolution accepts the global key everywhere, and an instance's own token on its routes.
    key = request.headers.get("apikey")
    if not key or (key != gateway.api_key and (instance is None or key != instance.token)):
        return 401, shapes.unauthorized_body()
    if action == "fetchInstances":
        return _fetch_instances(gateway, request.query)
    if instance is None:
        return 404, shapes.instance_not_found_body(name or "")
    return _instance_route(action, instance, request.query, allow_hang)


def _instance_route(action: str, instance: SimInstance, query: dict[str, str], allow_hang: bool) -> Routed:
    # An explicit fault wins over hang_share; connect never changes the state (module doc of ``server``).
    fault = instance.fault
    if fault == "http500":
        return 500, shapes.internal_error_body()
    if fault == "error_body":
        return 200, shapes.error_flag_body(f"Error: Connection Closed ({instance.name})")
    if fault == "garbage":
        return 200, shapes.GARBAGE_BODY
    if fault == "not_found":
        return 404, shapes.instance_not_found_body(instance.name)
    if allow_hang and (fault == "hang" or (instance.hangs and action == "connectionState")):
        return HANG
    if action == "connect" and instance.state != "open":
        instance.qr_count += 1
        return 200, shapes.qr_body(instance, query.get("number"))
    return 200, shapes.state_body(instance)


def _fetch_instances(gateway: Gateway, query: dict[str, str]) -> tuple[int, Any]:
    rows = list(gateway.instances.values())
    wanted_name = query.get("instanceName")
    if wanted_name is not None:
        rows = [i for i in rows if i.name == wanted_name]
    if "instanceId" in query:
        rows = [i for i in rows if i.id == query["instanceId"]]
    if "number" in query:
        rows = [i for i in rows if i.phone_number == query["number"]]
    if wanted_name is not None and not rows:
        return 404, shapes.error_body(404, "Not Found", [f'Instance "{wanted_name}" not found'])
    if gateway.shape == "v1":
        # v1 answered a single object, not a list, when asked for one name.
        items = [shapes.row_v1(i, gateway.base_url) for i in rows]
        return 200, items[0] if wanted_name is not None else items
    return 200, [shapes.row_v2(i) for i in rows]
