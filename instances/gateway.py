"""The Evolution API client: list the fleet, probe every instance, ask for a QR.

Facts about the gateway are in ``docs/evolution.md``. Errors come in two
kinds: ``GatewayUnavailable`` when the gateway itself fails (unreachable, 5xx, 503
``LICENSE_REQUIRED``, a refused API key) — never a reason to call instances offline — and
per-instance failures (timeout, 404, a 200 whose body says ``"error": true``, garbage), which
only count against that one instance.

Never log a ``fetchInstances`` body: it carries every instance's token in clear (§1).
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import ssl
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings
from django.db import models

from instances.evolution import BAN_CODES, reason_for, status_from_state
from instances.models import Instance, Status

# Small pools, many of them: one httpx client slows down sharply once ~100 requests share its
# pool (measured: ~10x slower than 20 clients of 10 connections); 10 connections per client,
# picked by a hash of the name.
POOL_SIZE = 10


class GatewayErrorKind(models.TextChoices):
    UNREACHABLE = "unreachable", "gateway inacessível"
    TIMEOUT = "timeout", "gateway não respondeu a tempo"
    SERVER_ERROR = "server_error", "erro interno do gateway"
    LICENSE_REQUIRED = "license_required", "gateway sem licença (503 LICENSE_REQUIRED)"
    UNAUTHORIZED = "unauthorized", "chave de API recusada pelo gateway (401)"
    BAD_RESPONSE = "bad_response", "resposta inválida do gateway"


class GatewayUnavailable(Exception):
    """The gateway itself failed; says nothing about any one instance."""

    def __init__(self, kind: GatewayErrorKind, detail: str = "", http_status: int | None = None) -> None:
        self.kind = GatewayErrorKind(kind)
        self.detail = detail
        self.http_status = http_status
        super().__init__(f"{self.kind.label}: {detail}" if detail else str(self.kind.label))

    @property
    def permanent(self) -> bool:
        """A refused key will not fix itself; retrying only hammers the gateway."""
        return self.kind == GatewayErrorKind.UNAUTHORIZED


class ProbeFailure(models.TextChoices):
    TIMEOUT = "timeout", "sem resposta a tempo"
    NOT_FOUND = "not_found", "instância não existe no gateway (404)"
    ERROR_BODY = "error_body", "gateway respondeu com erro"
    BAD_BODY = "bad_body", "resposta ilegível"
    HTTP_ERROR = "http_error", "erro HTTP"
    # Gateway-level causes seen through a probe.
    UNREACHABLE = "unreachable", "gateway inacessível"
    SERVER_ERROR = "server_error", "erro interno do gateway"
    LICENSE_REQUIRED = "license_required", "gateway sem licença"
    UNAUTHORIZED = "unauthorized", "chave de API recusada"


# A probe meets these only because the whole gateway is failing (same values as GatewayErrorKind).
GATEWAY_LEVEL_FAILURES = frozenset(
    {ProbeFailure.UNREACHABLE, ProbeFailure.SERVER_ERROR, ProbeFailure.LICENSE_REQUIRED, ProbeFailure.UNAUTHORIZED}
)


class InstanceRequestFailed(Exception):
    """One instance's request failed (the gateway itself answered)."""

    def __init__(self, failure: ProbeFailure, detail: str = "", http_status: int | None = None) -> None:
        self.failure = ProbeFailure(failure)
        self.http_status = http_status
        super().__init__(f"{self.failure.label}: {detail}" if detail else str(self.failure.label))


@dataclass(frozen=True)
class GatewayInstance:
    """One row of ``fetchInstances`` (a database row: its status can lag the live state)."""

    name: str
    phone_number: str = ""
    connection_status: str = ""
    disconnection_code: int | None = None
    disconnection_at: datetime | None = None
    disconnection_reason: str = ""


@dataclass(frozen=True)
class ProbeResult:
    """What ``connectionState`` said about one instance."""

    name: str
    ok: bool
    state: str | None = None
    status: Status | None = None
    code: int | None = None
    error: str = ""
    failure: ProbeFailure | None = None
    http_status: int | None = None
    elapsed: float = 0.0


@dataclass(frozen=True)
class Observation:
    status: Status
    reason: str = ""


def resolve_status(probe: ProbeResult, instance: Instance) -> Observation:
    """Return the status an answered probe means for ``instance`` (its gateway row already synced).

    The live state decides; the stored disconnection code only explains a close, and only if
    it is news for this outage (``Instance.has_fresh_disconnection``): Evolution never clears
    it, so an old 403 on a re-paired instance says nothing about today's close
    (docs/evolution.md §3.4, §8).
    """
    status = status_from_state(probe.state, probe.code)
    if status != Status.DISCONNECTED:
        return Observation(status, reason_for(probe.code) if status == Status.BANNED else "")
    if instance.has_fresh_disconnection():
        code = instance.disconnection_code
        status = Status.BANNED if code in BAN_CODES else Status.DISCONNECTED
        return Observation(status, instance.disconnection_reason or reason_for(code))
    return Observation(status, reason_for(probe.code))


def gateway_failure(results: Iterable[ProbeResult]) -> GatewayUnavailable | None:
    """Return the gateway-level error hidden in a batch of probes, if there is one.

    A license gate or a refused key is never about one instance; otherwise the gateway is
    down only if every probe failed for a gateway-level reason or a timeout (a gateway that
    lists the fleet but answers no probe is hung: never "N instances offline").
    """
    results = list(results)
    for result in results:
        if result.failure in (ProbeFailure.LICENSE_REQUIRED, ProbeFailure.UNAUTHORIZED):
            return GatewayUnavailable(GatewayErrorKind(result.failure.value), http_status=result.http_status)
    if results and all(r.failure in GATEWAY_LEVEL_FAILURES or r.failure == ProbeFailure.TIMEOUT for r in results):
        first = next((r for r in results if r.failure != ProbeFailure.TIMEOUT), results[0])
        return GatewayUnavailable(GatewayErrorKind(first.failure.value), first.error, first.http_status)
    return None


# --- Parsing -----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
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
    user = _text(value).split("@", 1)[0].split(":", 1)[0].lstrip("+")
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
                return f"{_text(node.get('tag')) or 'erro'}: {_text(node['attrs']['type'])}"[:200]
    output = error.get("output")
    payload = output.get("payload") if isinstance(output, dict) else None
    return _text(payload.get("message"))[:200] if isinstance(payload, dict) else ""


def parse_instance_row(row: Any) -> GatewayInstance | None:
    """Parse a v2 row (``name``, ``connectionStatus``…) or a v1 ``{"instance": {...}}`` row."""
    if not isinstance(row, dict):
        return None
    inner = row.get("instance")
    if "name" not in row and isinstance(inner, dict):  # v1
        name = _text(inner.get("instanceName"))
        phone = phone_from_jid(inner.get("owner"))
        return GatewayInstance(name, phone, _text(inner.get("status"))) if name else None
    name = _text(row.get("name"))
    if not name:
        return None
    code = _int(row.get("disconnectionReasonCode"))
    return GatewayInstance(
        name=name,
        phone_number=phone_from_jid(row.get("number")) or phone_from_jid(row.get("ownerJid")),
        connection_status=_text(row.get("connectionStatus")),
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
        raise InstanceRequestFailed(ProbeFailure.ERROR_BODY, _text(body.get("message"))[:200])
    inner = body.get("instance") if isinstance(body.get("instance"), dict) else body
    if "instance" not in body and "state" not in body:
        raise InstanceRequestFailed(ProbeFailure.BAD_BODY)
    state = inner.get("state")
    return (state if isinstance(state, str) else None), _int(inner.get("statusReason") or body.get("statusReason"))


def _json(response: httpx.Response) -> Any:
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
        body = _json(response)
        if isinstance(body, dict) and body.get("code") == "LICENSE_REQUIRED":
            raise GatewayUnavailable(GatewayErrorKind.LICENSE_REQUIRED, http_status=status)
    if status >= 500:
        raise GatewayUnavailable(GatewayErrorKind.SERVER_ERROR, f"HTTP {status}", http_status=status)


# --- The client --------------------------------------------------------------------------------


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every pool: building one per client costs ~20 ms (certifi bundle)."""
    return httpx.create_ssl_context()


class EvolutionClient:
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.base_url = (base_url or settings.EVOLUTION_API_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else settings.EVOLUTION_API_KEY
        self.timeout = float(timeout if timeout is not None else getattr(settings, "EVOLUTION_TIMEOUT", 5.0))
        self.concurrency = max(1, int(concurrency or settings.EVOLUTION_CONCURRENCY))

    def __repr__(self) -> str:  # never show the key
        return f"EvolutionClient({self.base_url!r}, timeout={self.timeout})"

    @property
    def probe_budget(self) -> float:
        """Return the longest a whole ``probe_all`` may take: probes not started by then fail."""
        return self.timeout * 6

    def _new_client(self, connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"apikey": self.api_key},
            verify=_ssl_context(),
            timeout=httpx.Timeout(self.timeout, connect=min(2.0, self.timeout)),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    async def _get(self, client: httpx.AsyncClient, path: str) -> httpx.Response:
        """The one way out: a GET with a hard overall deadline; network errors become ``GatewayUnavailable``."""
        try:
            async with asyncio.timeout(self.timeout):
                return await client.get(path)
        except (TimeoutError, httpx.TimeoutException):
            raise GatewayUnavailable(GatewayErrorKind.TIMEOUT, f"sem resposta em {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(GatewayErrorKind.UNREACHABLE, type(exc).__name__) from None

    # fetchInstances ------------------------------------------------------------------------

    async def afetch_instances(self) -> list[GatewayInstance]:
        async with self._new_client(1) as client:
            response = await self._get(client, "/instance/fetchInstances")
        raise_for_gateway(response)
        body = _json(response)
        if isinstance(body, dict):  # v1 with a filter answers one object
            body = [body]
        if response.status_code != 200 or not isinstance(body, list):
            # The body is not logged or echoed: it can carry instance tokens.
            raise GatewayUnavailable(GatewayErrorKind.BAD_RESPONSE, f"fetchInstances HTTP {response.status_code}")
        rows = [parse_instance_row(row) for row in body]
        return [row for row in rows if row is not None]

    # connectionState -----------------------------------------------------------------------

    async def _probe(self, client: httpx.AsyncClient, name: str) -> ProbeResult:
        started = time.monotonic()
        try:
            response = await self._get(client, f"/instance/connectionState/{quote(name, safe='')}")
            raise_for_gateway(response)
            if response.status_code == 404:
                raise InstanceRequestFailed(ProbeFailure.NOT_FOUND, http_status=404)
            if response.status_code != 200:
                raise InstanceRequestFailed(
                    ProbeFailure.HTTP_ERROR, f"HTTP {response.status_code}", response.status_code
                )
            state, code = parse_connection_state(_json(response))
        except GatewayUnavailable as exc:
            failure = ProbeFailure(exc.kind.value)  # _get and raise_for_gateway never say "bad_response"
            error = f"{failure.label} ({self.timeout:g}s)" if failure == ProbeFailure.TIMEOUT else str(exc)
            return ProbeResult(name, False, error=error, failure=failure, http_status=exc.http_status)
        except InstanceRequestFailed as exc:
            return ProbeResult(name, False, error=str(exc), failure=exc.failure, http_status=exc.http_status or 200)
        status = status_from_state(state, code)
        return ProbeResult(name, True, state, status, code, http_status=200, elapsed=time.monotonic() - started)

    async def aprobe_all(self, names: Iterable[str]) -> dict[str, ProbeResult]:
        """Probe every instance at once: bounded concurrency, one deadline per probe.

        Probes start in the order of ``names`` (put the likely hangers first). A probe's
        deadline starts when it gets a concurrency slot, so a long queue never
        fails healthy instances; and probes still waiting when the whole batch's budget is
        spent fail instead of stretching the cycle past its schedule.
        """
        names = list(dict.fromkeys(names))
        if not names:
            return {}
        slots = asyncio.Semaphore(self.concurrency)
        pools = max(1, min(math.ceil(2 * self.concurrency / POOL_SIZE), math.ceil(len(names) / 2)))
        clients = [self._new_client(POOL_SIZE) for _ in range(pools)]
        batch_deadline = asyncio.get_running_loop().time() + self.probe_budget

        async def one(name: str) -> ProbeResult:
            try:
                async with asyncio.timeout_at(batch_deadline):
                    await slots.acquire()
            except TimeoutError:
                return ProbeResult(
                    name, False, error="não verificada: tempo do ciclo esgotado", failure=ProbeFailure.TIMEOUT
                )
            try:
                return await self._probe(clients[zlib.crc32(name.encode()) % pools], name)
            finally:
                slots.release()

        try:
            results = await asyncio.gather(*(one(name) for name in names))
        finally:
            await asyncio.gather(*(client.aclose() for client in clients), return_exceptions=True)
        return {result.name: result for result in results}

    def probe_all(self, names: Iterable[str]) -> dict[str, ProbeResult]:
        return asyncio.run(self.aprobe_all(names))

    # connect (QR / pairing code) ------------------------------------------------------------

    async def aconnect(self, name: str) -> dict[str, Any]:
        """Return the QR / pairing-code object (or the state object if already open)."""
        async with self._new_client(1) as client:
            response = await self._get(client, f"/instance/connect/{quote(name, safe='')}")
        raise_for_gateway(response)
        if response.status_code == 404:
            raise InstanceRequestFailed(ProbeFailure.NOT_FOUND, http_status=404)
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, dict):
            raise InstanceRequestFailed(ProbeFailure.BAD_BODY, f"HTTP {response.status_code}", response.status_code)
        if body.get("error") is True:  # Evolution's catch-all answers 200 (docs/evolution.md §2.3)
            raise InstanceRequestFailed(ProbeFailure.ERROR_BODY, _text(body.get("message"))[:200], 200)
        return body

    def connect(self, name: str) -> dict[str, Any]:
        return asyncio.run(self.aconnect(name))
