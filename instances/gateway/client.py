"""The Evolution API client: list the fleet, probe every instance, ask for a QR.

The one way out to the gateway: every call has a hard deadline and bounded concurrency. Facts
about the gateway are in ``docs/evolution.md``; errors in ``instances.gateway.errors``; reading
bodies in ``instances.gateway.parsing``. Never log a ``fetchInstances`` body: it carries every
instance's token in clear (docs/evolution.md §1).
"""

from __future__ import annotations

import asyncio
import functools
import math
import ssl
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from instances.gateway.errors import (
    GATEWAY_LEVEL_FAILURES,
    GatewayErrorKind,
    GatewayUnavailable,
    InstanceRequestFailed,
    ProbeFailure,
)
from instances.gateway.parsing import (
    GatewayInstance,
    json_or_none,
    parse_connection_state,
    raise_for_gateway,
    read_instance_row,
    text_of,
)
from instances.gateway.states import status_from_state
from instances.gateway.validation import RejectedRow
from instances.models import Status

# Small pools, many of them: one httpx client slows down sharply once ~100 requests share its
# pool (measured: ~10x slower than 20 clients of 10 connections); 10 connections per client,
# picked by a hash of the name.
POOL_SIZE = 10


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
        assert first.failure is not None  # every probe failed: the test just above
        return GatewayUnavailable(GatewayErrorKind(first.failure.value), first.error, first.http_status)
    return None


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
        rows, _rejected = await self.afetch_fleet()
        return rows

    async def afetch_fleet(self) -> tuple[list[GatewayInstance], list[RejectedRow]]:
        """Return the fleet's rows, and the rows rejected as invalid (each with its reason)."""
        async with self._new_client(1) as client:
            response = await self._get(client, "/instance/fetchInstances")
        raise_for_gateway(response)
        body = json_or_none(response)
        if isinstance(body, dict):  # v1 with a filter answers one object
            body = [body]
        if response.status_code != 200 or not isinstance(body, list):
            # The body is not logged or echoed: it can carry instance tokens.
            raise GatewayUnavailable(GatewayErrorKind.BAD_RESPONSE, f"fetchInstances HTTP {response.status_code}")
        read = [read_instance_row(row, position) for position, row in enumerate(body)]
        return [r for r in read if isinstance(r, GatewayInstance)], [r for r in read if isinstance(r, RejectedRow)]

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
            state, code = parse_connection_state(json_or_none(response))
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
        body = json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict):
            raise InstanceRequestFailed(ProbeFailure.BAD_BODY, f"HTTP {response.status_code}", response.status_code)
        if body.get("error") is True:  # Evolution's catch-all answers 200 (docs/evolution.md §2.3)
            raise InstanceRequestFailed(ProbeFailure.ERROR_BODY, text_of(body.get("message"))[:200], 200)
        return body

    def connect(self, name: str) -> dict[str, Any]:
        return asyncio.run(self.aconnect(name))
