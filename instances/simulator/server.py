"""``GatewaySimulator``: the built-in Evolution API gateway, a real HTTP server on loopback.

Used by the demo (``make run``), the tests and the benchmarks. It speaks the v2 (or v1) shapes
of ``fetchInstances``, ``connectionState`` and ``connect`` (``shapes``), adds random latency,
can hang or fail per instance or for the whole gateway (``routes``), and posts Evolution
webhooks for state changes and sent messages (``webhooks``). The server (``http``) runs in a
background thread with its own event loop, so every delay is an ``asyncio.sleep`` that blocks
nobody::

    with GatewaySimulator(api_key="k", latency=(0.05, 0.15)) as sim:
        sim.add_instances(100)
        sim.set_state("sim-007", "close", code=403)
        httpx.get(f"{sim.url}/instance/connectionState/sim-007", headers={"apikey": "k"})

Unlike real Evolution, a closed instance comes back only when told (``set_state``), and
``connect`` never changes the state: the caller (a test, a script, the demo driver) decides.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import random
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from instances.simulator import shapes
from instances.simulator.demo import FleetDriver, build_demo_fleet
from instances.simulator.http import HttpServer, Request, Response
from instances.simulator.routes import HANG, Gateway, Routed, route
from instances.simulator.shapes import (
    CODES_THAT_CLOSE_THE_ROW,
    GATEWAY_FAULTS,
    INSTANCE_FAULTS,
    INSTANCE_STATES,
    SimInstance,
)
from instances.simulator.webhooks import AUTH_MODES, WebhookSender

__all__ = ["GatewaySimulator", "SimInstance"]

logger = logging.getLogger("instances.simulator")

_MESSAGES = (
    "Olá, doutor(a)! Aqui é a Julia. Podemos confirmar o plantão de amanhã?",
    "Bom dia! Temos uma vaga de plantão no sábado, tem interesse?",
    "Obrigada pelo retorno! Vou registrar aqui.",
    "Lembrete: o plantão começa às 19h.",
)


def _now() -> datetime:
    return datetime.now(UTC)


class GatewaySimulator:
    """An Evolution API gateway on loopback; see the module docstring and the contract."""

    def __init__(
        self,
        api_key: str = "simulator-key",
        latency: tuple[float, float] = (0.0, 0.0),
        hang_share: float = 0.0,
        hang_seconds: float = 30.0,
        seed: int | None = None,
        shape: str = "v2",
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        webhook_retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0),
        clock_offset: timedelta = timedelta(0),
        webhook_auth: str = "header",
    ) -> None:
        low, high = latency
        if not 0 <= low <= high:
            raise ValueError(f"latency must be (low, high) with 0 <= low <= high, got {latency!r}")
        if not 0 <= hang_share <= 1:
            raise ValueError(f"hang_share must be between 0 and 1, got {hang_share!r}")
        if hang_seconds < 0:
            raise ValueError("hang_seconds must be >= 0")
        if webhook_auth not in AUTH_MODES:
            raise ValueError(f"webhook_auth must be one of {AUTH_MODES}, got {webhook_auth!r}")
        if shape not in shapes.VERSIONS:
            raise ValueError(f"shape must be one of {sorted(shapes.VERSIONS)}, got {shape!r}")
        self.api_key = api_key
        self.latency = (float(low), float(high))
        self.hang_share = hang_share
        self.hang_seconds = hang_seconds
        self.shape = shape
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.webhook_retry_delays = webhook_retry_delays
        self.webhook_auth = webhook_auth  # how the secret is shown: "jwt", "header" or "query"
        # How far this gateway's clock is off: every date it writes (disconnectionAt, webhook
        # times) is shifted by it, as on a server whose clock drifted.
        self.clock_offset = clock_offset
        self.instances: dict[str, SimInstance] = {}
        self.url: str | None = None
        self.driver: FleetDriver | None = None  # set by demo()
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._latency_rng = random.Random(self._rng.random())  # only used in the server thread
        # Hanging instances are spread evenly with a seeded phase, so a share of 5 % of 1,000
        # instances is exactly 50 of them, whatever order they were added in.
        self._hang_debt = self._rng.random()
        self._gateway_fault: str | None = None
        self._counts: Counter[str] = Counter()
        self._in_flight = 0  # only changed in the server thread
        self._pending_webhooks: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: HttpServer | None = None
        self._sender: WebhookSender | None = None

    @classmethod
    def demo(cls, seed: int | None = None, changes: bool = True, **options: Any) -> GatewaySimulator:
        """Return a simulator loaded with the demo fleet, its driver in ``sim.driver``.

        ``changes=False`` keeps the opening (blip, QR read, re-pair) but no random incidents.
        """
        sim = cls(seed=seed, **options)
        sim.driver = build_demo_fleet(sim, seed=seed, changes=changes)
        return sim

    # --- the fleet -------------------------------------------------------------------------

    def add_instance(
        self,
        name: str,
        state: str = "open",
        phone_number: str | None = None,
        disconnection_code: int | None = None,
        disconnection_at: datetime | None = None,
        profile_name: str | None = None,
    ) -> SimInstance:
        """Add an instance. A disconnection code on a closed instance is fresh; on an open one, stale."""
        if not name or "/" in name:
            raise ValueError(f"bad instance name {name!r}")
        if state not in INSTANCE_STATES:
            raise ValueError(f"state must be one of {INSTANCE_STATES}, got {state!r}")
        now = self._clock()
        with self._lock:
            if name in self.instances:
                raise ValueError(f"instance {name!r} already exists")
            index = len(self.instances) + 1
            instance = SimInstance(
                name=name,
                id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                token=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)).upper(),
                phone_number=phone_number if phone_number is not None else f"55119{90000000 + index:08d}",
                profile_name=profile_name or name.replace("-", " ").title(),
                state=state,
                row_status=state,
                created_at=now - timedelta(days=30),
                updated_at=now,
            )
            if disconnection_code is not None:
                # Evolution never clears these on reconnect: on an open instance they are old.
                at = disconnection_at or (now if state == "close" else now - timedelta(days=3))
                instance.disconnection_code = disconnection_code
                instance.disconnection_at = at
                instance.disconnection_object = shapes.disconnection_object(disconnection_code, name, at)
            self._hang_debt += self.hang_share
            if self._hang_debt >= 1:
                self._hang_debt -= 1
                instance.hangs = True
            self.instances[name] = instance
        return instance

    def add_instances(self, n: int, state: str = "open") -> list[SimInstance]:
        """Add ``n`` generated instances named ``sim-001``, ``sim-002`` … after the existing ones."""
        with self._lock:
            first = sum(1 for name in self.instances if name.startswith("sim-")) + 1
            return [self.add_instance(f"sim-{i:03d}", state=state) for i in range(first, first + n)]

    def hanging(self) -> list[str]:
        """Return the names whose connectionState hangs (by hang_share or the "hang" fault)."""
        with self._lock:
            return sorted(i.name for i in self.instances.values() if i.hangs or i.fault == "hang")

    def set_state(self, name: str, state: str, code: int | None = None) -> None:
        """Change the live state, as Evolution would on a socket event (docs/evolution.md §3.3).

        A close with a terminal code (401/402/403/406) writes the disconnection fields and the
        row's ``connectionStatus`` and posts ``status.instance`` + ``connection.update``. Any
        other close only changes the live state: the row lags and no webhook is posted.
        """
        if state not in INSTANCE_STATES:
            raise ValueError(f"state must be one of {INSTANCE_STATES}, got {state!r}")
        now = self._clock()
        events: list[tuple[str, Any]] = []
        with self._lock:
            instance = self._get(name)
            terminal = state == "close" and code in CODES_THAT_CLOSE_THE_ROW
            if state == instance.state and not terminal:
                return
            instance.state = state
            if terminal:
                assert code is not None
                instance.row_status = "close"
                instance.disconnection_code = code
                instance.disconnection_at = now
                instance.disconnection_object = shapes.disconnection_object(code, name, now)
                instance.updated_at = now
                events.append(("status.instance", shapes.status_instance_data(instance)))
                events.append(("connection.update", shapes.connection_update_data(instance, "close", code)))
            elif state == "open":
                instance.row_status = "open"
                instance.updated_at = now
                events.append(("connection.update", shapes.connection_update_data(instance, "open", 200)))
            elif state == "connecting":
                events.append(("connection.update", shapes.connection_update_data(instance, "connecting", 200)))
            for event, data in events:
                self._post(event, instance, data, now)

    def remove_instance(self, name: str) -> None:
        """Delete one instance: the gateway stops listing it and its routes answer 404."""
        with self._lock:
            self._get(name)
            del self.instances[name]

    def forget_all(self) -> None:
        """Lose every instance, as Evolution redeployed without its volume: still up, knows nobody.

        ``fetchInstances`` then lists nothing and every ``connectionState`` is a 404.
        """
        with self._lock:
            self.instances.clear()

    def _clock(self) -> datetime:
        return _now() + self.clock_offset

    def set_fault(self, name: str, fault: str | None) -> None:
        """Make one instance's connectionState/connect hang, fail with 500, answer an error body or 404."""
        if fault is not None and fault not in INSTANCE_FAULTS:
            raise ValueError(f"fault must be one of {INSTANCE_FAULTS} or None, got {fault!r}")
        with self._lock:
            self._get(name).fault = fault

    def set_gateway_fault(self, fault: str | None) -> None:
        """Break the whole gateway: 503 LICENSE_REQUIRED, 500 on everything, or down (no answer)."""
        if fault is not None and fault not in GATEWAY_FAULTS:
            raise ValueError(f"gateway fault must be one of {GATEWAY_FAULTS} or None, got {fault!r}")
        with self._lock:
            self._gateway_fault = fault

    def send_message(self, name: str, message_id: str | None = None, text: str | None = None) -> str:
        """Post a ``send.message`` webhook for one sent message; return its id.

        Passing an id already used simulates Evolution retrying the same webhook.
        """
        now = self._clock()
        with self._lock:
            instance = self._get(name)
            message_id = message_id or "3EB0" + f"{self._rng.getrandbits(72):018X}"
            remote_jid = f"55{self._rng.randint(11, 99)}9{self._rng.randint(0, 99_999_999):08d}@s.whatsapp.net"
            text = text or self._rng.choice(_MESSAGES)
            instance.messages_sent += 1
            self._post(
                "send.message", instance, shapes.send_message_data(instance, message_id, remote_jid, text, now), now
            )
        return message_id

    def request_count(self, path_prefix: str = "") -> int:
        """Return how many requests the server answered whose path starts with ``path_prefix``."""
        with self._lock:
            return sum(count for path, count in self._counts.items() if path.startswith(path_prefix))

    def _get(self, name: str) -> SimInstance:
        try:
            return self.instances[name]
        except KeyError:
            raise KeyError(f"unknown simulated instance {name!r}") from None

    # --- webhooks ----------------------------------------------------------------------------

    def _post(self, event: str, instance: SimInstance, data: Any, at: datetime) -> None:
        """Queue one webhook (caller holds the lock, so events keep their order)."""
        if not self.webhook_url:
            return
        payload = shapes.envelope(event, instance, data, self.webhook_url, self.url or "http://127.0.0.1", at)
        if self._loop is not None and self._sender is not None:
            self._loop.call_soon_threadsafe(self._sender.enqueue, payload)
        else:
            self._pending_webhooks.append(payload)

    def flush_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until every queued webhook was delivered or dropped; return False on timeout."""
        loop, sender = self._loop, self._sender
        if loop is None or sender is None:
            return not self._pending_webhooks

        async def wait_idle() -> None:
            while not sender.idle:
                await asyncio.sleep(0.01)

        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(wait_idle(), timeout), loop)
        try:
            future.result(timeout + 1)
        except (TimeoutError, concurrent.futures.TimeoutError):
            return False
        return True

    @property
    def webhooks_delivered(self) -> int:
        return self._sender.delivered if self._sender else 0

    @property
    def webhooks_dropped(self) -> int:
        return self._sender.dropped if self._sender else 0

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving in a background thread; return the base URL. Raises OSError if the port is taken."""
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        thread = threading.Thread(
            target=self._run_loop, args=(loop, host, port, ready), name="gateway-simulator", daemon=True
        )
        thread.start()
        bound = ready.result(timeout=10)
        with self._lock:
            self._loop, self._thread = loop, thread
            self.url = f"http://{host}:{bound}"
            for payload in self._pending_webhooks:
                payload["server_url"] = self.url
                if self._sender is not None:
                    loop.call_soon_threadsafe(self._sender.enqueue, payload)
            self._pending_webhooks.clear()
        return self.url

    def stop(self) -> None:
        """Stop at once: open connections are cut and hanging requests abandoned."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=5)
        except Exception:
            logger.exception("simulator: error while stopping")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> GatewaySimulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _run_loop(
        self, loop: asyncio.AbstractEventLoop, host: str, port: int, ready: concurrent.futures.Future[int]
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            bound = loop.run_until_complete(self._open(host, port))
        except BaseException as error:
            ready.set_exception(error)
            loop.close()
            return
        ready.set_result(bound)
        try:
            loop.run_forever()
        finally:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _open(self, host: str, port: int) -> int:
        self._server = HttpServer(self._handle)
        bound = await self._server.open(host, port)
        if self.webhook_url:
            self._sender = WebhookSender(
                self.webhook_url, self.webhook_secret, self.webhook_retry_delays, auth=self.webhook_auth
            )
            self._sender.start()
        return bound

    async def _close(self) -> None:
        if self._server is not None:
            await self._server.close()
        if self._sender is not None:
            await self._sender.close()

    # --- answering requests (server thread) --------------------------------------------------

    def in_flight(self) -> int:
        """Return how many received requests are still waiting for their answer (e.g. hanging)."""
        return self._in_flight

    async def _handle(self, request: Request) -> Response | None:
        self._in_flight += 1
        try:
            return await self._answer(request)
        finally:
            self._in_flight -= 1

    async def _answer(self, request: Request) -> Response | None:
        if self._gateway_fault == "down":
            return None
        low, high = self.latency
        if high > 0:
            await asyncio.sleep(self._latency_rng.uniform(low, high))
        result = self._route(request, allow_hang=True)
        if result is HANG:
            await asyncio.sleep(self.hang_seconds)
            result = self._route(request, allow_hang=False)
            assert result is not HANG  # allow_hang=False always answers
        if self._gateway_fault == "down":
            return None
        status, body = result
        with self._lock:
            self._counts[request.path] += 1
        if isinstance(body, bytes):
            return Response(status, body, content_type="text/html")
        return Response(status, json.dumps(body, ensure_ascii=False).encode())

    def _route(self, request: Request, allow_hang: bool) -> Routed:
        with self._lock:
            gateway = Gateway(self.api_key, self.shape, self._gateway_fault, self.url or "", self.instances)
            return route(request, gateway, allow_hang)
