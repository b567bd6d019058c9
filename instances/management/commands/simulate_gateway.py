"""``manage.py simulate_gateway``: run the Evolution API gateway simulator in the foreground.

    manage.py simulate_gateway --port 8081 --instances 50 --latency-ms 50-150
    manage.py simulate_gateway --demo --webhook-url http://127.0.0.1:8000/webhooks/evolution
    manage.py simulate_gateway --instances 5 --script steps.json

Prints one line with the URL, then the state changes as they happen, until Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from instances.simulator import FleetDriver, GatewaySimulator, ScriptError, ScriptPlayer, check_names, load_script
from instances.simulator.webhooks import AUTH_MODES
from julia_monitor.lib.stopping import stop_on_signals

DEFAULT_RANDOM_SEND_RATE = 12.0  # messages per minute across a plain fleet in random mode


def parse_latency_ms(raw: str) -> tuple[float, float]:
    """Return (low, high) seconds from ``"50-150"`` or ``"100"`` (milliseconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)\s*)?", raw)
    if not match:
        raise CommandError(f"--latency-ms inválido: {raw!r} (use por exemplo 50-150 ou 100)")
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) is not None else low
    if low > high:
        raise CommandError(f"--latency-ms inválido: {raw!r} (o mínimo é maior que o máximo)")
    return low / 1000, high / 1000


class Command(BaseCommand):
    help = "Simula um gateway Evolution API (v2/v1) com instâncias, latência, falhas e webhooks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.SIMULATOR_PORT, help="0 = porta livre qualquer")
        parser.add_argument("--instances", type=int, default=None, help="instâncias sim-001… (padrão 10)")
        parser.add_argument("--demo", action="store_true", help="a frota de demonstração, com tráfego e incidentes")
        parser.add_argument("--api-key", default=None, help="padrão: EVOLUTION_API_KEY das configurações")
        parser.add_argument("--latency-ms", default="0", help="latência por resposta, ex.: 50-150")
        parser.add_argument("--hang-share", type=float, default=0.0, help="fração de instâncias que travam")
        parser.add_argument("--hang-seconds", type=float, default=30.0)
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--shape", choices=["v1", "v2"], default="v2")
        parser.add_argument("--changes", choices=["none", "random"], default=None, help="padrão: random em --demo")
        parser.add_argument("--send-rate", type=float, default=None, help="mensagens por minuto na frota")
        parser.add_argument("--script", default=None, help="arquivo JSON com passos temporizados")
        parser.add_argument("--webhook-url", default=None)
        parser.add_argument("--webhook-secret", default=None, help="padrão: env EVOLUTION_WEBHOOK_SECRET")
        parser.add_argument(
            "--webhook-auth",
            choices=AUTH_MODES,
            default="jwt",
            help="como o segredo vai no webhook: jwt (Authorization: Bearer, como o jwt_key do Evolution), "
            "header (X-Webhook-Secret) ou query (?token=, como o webhook global)",
        )
        parser.add_argument(
            "--wait-for-portal",
            action="store_true",
            help="só começa o tráfego e os incidentes depois da primeira consulta a /instance/fetchInstances",
        )
        parser.add_argument("--tick", type=float, default=3.0, help="segundos entre passos do tráfego/incidentes")
        parser.add_argument("--duration", type=float, default=0.0, help="encerra após N segundos (0 = até Ctrl-C)")

    def handle(self, *args: Any, **options: Any) -> None:
        sim, driver, player = self._build(options)
        try:
            url = sim.start(host=options["host"], port=options["port"])
        except OSError as error:
            raise CommandError(
                f"não foi possível abrir {options['host']}:{options['port']}: {error.strerror or error}"
            ) from None
        try:
            self.stdout.write(self._summary(url, sim, options), ending="\n")
            self.stdout.flush()
            self._run(sim, driver, player, options)
        finally:
            # Webhooks already decided (a state change, a send) still go out, briefly.
            sim.flush_webhooks(timeout=2.0)
            sim.stop()
        self.stdout.write("Simulador encerrado.")

    def _build(self, options: dict[str, Any]) -> tuple[GatewaySimulator, FleetDriver | None, ScriptPlayer | None]:
        """Check every option and build the simulator before anything starts."""
        latency = parse_latency_ms(options["latency_ms"])
        if not 0 <= options["hang_share"] <= 1:
            raise CommandError("--hang-share deve estar entre 0 e 1")
        if options["hang_seconds"] < 0 or options["tick"] <= 0 or options["duration"] < 0:
            raise CommandError("--hang-seconds e --duration devem ser >= 0 e --tick > 0")
        if not 0 <= options["port"] <= 65535:
            raise CommandError("--port deve estar entre 0 e 65535")
        if options["demo"] and options["instances"] is not None:
            raise CommandError("use --demo ou --instances, não os dois")
        instances = 10 if options["instances"] is None else options["instances"]
        if not 0 <= instances <= 100_000:
            raise CommandError("--instances deve estar entre 0 e 100000")
        send_rate = options["send_rate"]
        if send_rate is not None and send_rate < 0:
            raise CommandError("--send-rate deve ser >= 0")
        webhook_url = options["webhook_url"]
        if webhook_url and not re.match(r"https?://[^/\s]+", webhook_url):
            raise CommandError(f"--webhook-url inválida: {webhook_url!r} (esperava http://… ou https://…)")
        secret = options["webhook_secret"]
        if secret is None:
            secret = os.environ.get("EVOLUTION_WEBHOOK_SECRET") or settings.EVOLUTION_WEBHOOK_SECRET or None
        steps = []
        if options["script"]:
            try:
                steps = load_script(options["script"])
            except ScriptError as error:
                raise CommandError(str(error)) from None
        kwargs: dict[str, Any] = {
            "api_key": options["api_key"] or settings.EVOLUTION_API_KEY or "simulator-key",
            "latency": latency,
            "hang_share": options["hang_share"],
            "hang_seconds": options["hang_seconds"],
            "shape": options["shape"],
            "webhook_url": webhook_url or None,
            "webhook_secret": secret,
            "webhook_auth": options["webhook_auth"],
        }
        changes = options["changes"] or ("random" if options["demo"] else "none")
        if options["demo"]:
            sim = GatewaySimulator.demo(seed=options["seed"], changes=changes == "random", **kwargs)
            driver = sim.driver
            assert driver is not None
            driver.send_rate = send_rate or 0.0
        else:
            sim = GatewaySimulator(seed=options["seed"], **kwargs)
            sim.add_instances(instances)
            if send_rate is None:
                send_rate = DEFAULT_RANDOM_SEND_RATE if changes == "random" else 0.0
            driver = None
            if changes == "random" or send_rate > 0:
                driver = FleetDriver(sim, seed=options["seed"], send_rate=send_rate, changes=changes == "random")
        try:
            check_names(steps, sim)
        except ScriptError as error:
            raise CommandError(str(error)) from None
        return sim, driver, ScriptPlayer(steps) if steps else None

    def _summary(self, url: str, sim: GatewaySimulator, options: dict[str, Any]) -> str:
        states = [i.state for i in sim.instances.values()]
        counts = ", ".join(f"{states.count(s)} {s}" for s in ("open", "connecting", "close") if states.count(s))
        low, high = sim.latency
        parts = [
            f"Simulador Evolution ({sim.shape}) em {url}",
            f"{len(states)} instâncias{' (demo)' if options['demo'] else ''}: {counts or 'nenhuma'}",
            f"latência {low * 1000:.0f}–{high * 1000:.0f} ms",
        ]
        if sim.hanging():
            parts.append(f"{len(sim.hanging())} travam")
        parts.append(f"webhooks → {sim.webhook_url}" if sim.webhook_url else "sem webhooks")
        return " — ".join(parts) + ". Ctrl-C para sair."

    def _run(
        self, sim: GatewaySimulator, driver: FleetDriver | None, player: ScriptPlayer | None, options: dict[str, Any]
    ) -> None:
        with stop_on_signals() as stop:
            if options["wait_for_portal"] and not self._wait_for_portal(sim, stop):
                return
            started = time.monotonic()
            next_tick = started
            sent_reported = 0
            next_report = started + 60
            while not stop.is_set():
                now = time.monotonic()
                elapsed = now - started
                if options["duration"] and elapsed >= options["duration"]:
                    break
                lines = player.play_due(sim, elapsed) if player else []
                if driver is not None and now >= next_tick:
                    lines += driver.tick(datetime.now(UTC))
                    next_tick += options["tick"]
                if driver is not None and now >= next_report:
                    self._say(elapsed, f"{driver.sent_total - sent_reported} mensagens enviadas no último minuto")
                    sent_reported, next_report = driver.sent_total, next_report + 60
                for line in lines:
                    self._say(elapsed, line)
                stop.wait(0.2)

    def _wait_for_portal(self, sim: GatewaySimulator, stop: threading.Event) -> bool:
        """Wait until someone lists the instances; return False if stopped first.

        The portal creates its instances from that listing: webhooks for instances it does not
        know yet would be ignored, and the demo's story would start before anyone is watching.
        """
        self.stdout.write("Aguardando o portal consultar /instance/fetchInstances…")
        self.stdout.flush()
        while not sim.request_count("/instance/fetchInstances"):
            if stop.wait(0.2):
                return False
        # Give the portal a moment to commit the instances it just discovered.
        return not stop.wait(2.0)

    def _say(self, elapsed: float, line: str) -> None:
        minutes, seconds = divmod(int(elapsed), 60)
        self.stdout.write(f"[+{minutes:02d}:{seconds:02d}] {line}")
        self.stdout.flush()
