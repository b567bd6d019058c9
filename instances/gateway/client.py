"""The Evolution API client: list the fleet, probe every instance, ask for a QR.

The one way out to the gateway: every call has a hard deadline and bounded concurrency. Facts
about the gateway are in ``docs/evolution.md``; errors in ``instances.gateway.errors``; reading
bodies in ``instances.gateway.parsing``. Never log a ``fetchInstances`` body: it carries every
instance's token in clear (docs/evolution.md §1).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
from django.conf import settings
from yarl import URL

from instances.gateway.errors import (
    GATEWAY_LEVEL_FAILURES,
    GatewayErrorKind,
    GatewayUnavailable,
    InstanceRequestFailed,
    ProbeFailure,
)
from instances.gateway.pacing import Pace
from instances.gateway.parsing import (
    GatewayInstance,
    json_or_none,
    parse_connection_state,
    raise_for_gateway,
    read_instance_row,
    text_of,
)
from instances.gateway.sizing import BUDGET_TIMEOUTS, DEFAULT_LATENCY, ProbePlan, descriptor_room, plan_probes
from instances.gateway.states import status_from_state
from instances.gateway.validation import RejectedRow
from instances.models import Status

logger = logging.getLogger(__name__)

# What a prompt probe takes on each gateway (base URL -> seconds): the tenth percentile of the
# last batch's answers, which leaves out the wait in this process's own queue (that is the
# pacing's business); the next batch is sized with it (``instances.gateway.sizing``).
_recent_latency: dict[str, float] = {}

UNSTARTED = "não verificada: tempo do ciclo esgotado"


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
        # A cap on probes in flight (EVOLUTION_CONCURRENCY; 0 or unset: none beyond the sizing's own).
        cap = concurrency or getattr(settings, "EVOLUTION_CONCURRENCY", 0)
        self.concurrency: int | None = max(1, int(cap)) if cap else None

    def __repr__(self) -> str:  # never show the key
        return f"EvolutionClient({self.base_url!r}, timeout={self.timeout})"

    @property
    def probe_budget(self) -> float:
        """Return a batch's budget: probes not started by then fail."""
        return self.timeout * BUDGET_TIMEOUTS

    @property
    def latency(self) -> float:
        """Return what a prompt probe takes on this gateway: last batch's mean, or a prudent guess."""
        return _recent_latency.get(self.base_url, DEFAULT_LATENCY)

    def plan(self, probes: int, likely_hangs: int = 0) -> ProbePlan:
        """Size a batch of ``probes`` (``likely_hangs`` of them failed last time and go first)."""
        return plan_probes(
            probes, self.timeout, self.latency, likely_hangs, cap=self.concurrency, descriptors=descriptor_room()
        )

    def _new_client(self, connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"apikey": self.api_key},
            verify=_ssl_context(),
            timeout=httpx.Timeout(self.timeout, connect=min(2.0, self.timeout)),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    def _probe_session(self) -> aiohttp.ClientSession:
        """The probe batch's connections: aiohttp, whose C parser costs about a third of httpx's CPU
        per probe, which is what bounds a batch of thousands (docs/probing.md). Listing the fleet
        and asking for a QR stay on httpx: one request each.
        """
        return aiohttp.ClientSession(
            headers={"apikey": self.api_key},
            connector=aiohttp.TCPConnector(limit=0, ssl=_ssl_context()),  # the batch's workers bound it
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(2.0, self.timeout)),
            cookie_jar=aiohttp.DummyCookieJar(),
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

    async def _probe_get(self, session: aiohttp.ClientSession, path: str) -> httpx.Response:
        """``_get`` for the probe batch: the same deadline and errors, the answer read whole."""
        try:
            async with asyncio.timeout(self.timeout):
                # The path is quoted already: yarl must not quote it again.
                async with session.get(URL(self.base_url + path, encoded=True), allow_redirects=False) as answer:
                    body = await answer.read()
        except TimeoutError:
            raise GatewayUnavailable(GatewayErrorKind.TIMEOUT, f"sem resposta em {self.timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise GatewayUnavailable(GatewayErrorKind.UNREACHABLE, type(exc).__name__) from None
        return httpx.Response(answer.status, content=body)  # what the parsing reads, status and body

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

    async def _probe(self, session: aiohttp.ClientSession, name: str) -> ProbeResult:
        started = time.monotonic()
        try:
            response = await self._probe_get(session, f"/instance/connectionState/{quote(name, safe='')}")
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

    async def aprobe_all(self, names: Iterable[str], likely_hangs: int = 0) -> dict[str, ProbeResult]:
        """Probe every instance: the batch sized from the fleet, one deadline per probe.

        Probes start in the order of ``names``: put the ``likely_hangs`` first (the ones that
        failed last time), so their timeouts run alongside everyone else's probes. As many
        workers as the plan's concurrency take the next name in line, each with a connection
        of its own from an unbounded connector, so a probe never waits for a pool; its
        deadline starts when it is sent, and the
        pacing (``pacing.py``) sends no faster than answers come back. Probes not started once
        the batch's budget is spent fail instead of stretching the cycle past its schedule
        (``docs/probing.md``).
        """
        names = list(dict.fromkeys(names))
        if not names:
            return {}
        plan = self.plan(len(names), likely_hangs)
        if plan.capped_by:
            logger.warning(
                "probes: %d instances need %d probes in flight, capped at %d by the %s; the batch may take %.0fs",
                plan.probes,
                plan.wanted,
                plan.concurrency,
                plan.capped_by,
                plan.expected,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + plan.budget
        line = iter(names)
        results: dict[str, ProbeResult] = {}

        pace = Pace(plan.concurrency, self.timeout, likely_hangs, len(names))

        async def worker(session: aiohttp.ClientSession) -> None:
            for name in line:
                async with pace.slot():
                    if loop.time() >= deadline:
                        results[name] = ProbeResult(name, False, error=UNSTARTED, failure=ProbeFailure.TIMEOUT)
                        continue
                    result = results[name] = await self._probe(session, name)
                    if result.failure != ProbeFailure.TIMEOUT:
                        pace.answered()

        async with self._probe_session() as session:
            await asyncio.gather(*(worker(session) for _ in range(plan.concurrency)))
        answered = sorted(result.elapsed for result in results.values() if result.ok)
        if answered:
            _recent_latency[self.base_url] = min(self.timeout, answered[len(answered) // 10])
        return {name: results[name] for name in names}

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
