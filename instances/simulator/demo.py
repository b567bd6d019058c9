"""The demo fleet and the driver that keeps it alive: traffic and state changes over time.

``FleetDriver.tick(now)`` is called every few seconds (by ``simulate_gateway``); it sends
messages per each instance's traffic profile and, now and then, makes an instance drop and
come back, blip through "connecting", or (rarely) get banned. Everything random comes from one
seeded ``random.Random`` and every time from the ``now`` passed in, so a seed replays the same
story and tests drive hours of it without sleeping.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from instances.simulator.shapes import SimInstance

# Usage is counted in local clock hours, so the driver plans by the same clock.
LOCAL_TZ = ZoneInfo("America/Sao_Paulo")
DEFAULT_CAPACITY_PER_HOUR = 30
DEFAULT_CAPACITY_PER_DAY = 200


@dataclass(frozen=True)
class TrafficProfile:
    """How much an instance sends: ``load`` of its hourly capacity by the end of each hour.

    ``head_start`` is the share of that sent as soon as the hour begins: hot numbers are
    pushed early (and cross 80 % within minutes), quiet ones spread over the hour.
    """

    load: float
    head_start: float = 0.3


@dataclass(frozen=True)
class DemoMember:
    name: str
    profile: TrafficProfile
    state: str = "open"
    code: int | None = None


HOT = 0.9
DEMO_FLEET = (
    DemoMember("julia-sp-01", TrafficProfile(0.93, HOT)),
    DemoMember("julia-sp-02", TrafficProfile(0.86, HOT)),
    DemoMember("julia-sp-03", TrafficProfile(0.55)),
    DemoMember("julia-rj-01", TrafficProfile(0.45)),
    DemoMember("julia-rj-02", TrafficProfile(0.15)),
    DemoMember("julia-mg-01", TrafficProfile(0.6)),
    DemoMember("julia-pr-01", TrafficProfile(0.2)),
    DemoMember("julia-rs-01", TrafficProfile(0.35)),
    DemoMember("julia-pe-01", TrafficProfile(0.4), state="connecting"),  # a reconnect blip, back in seconds
    DemoMember("julia-ba-01", TrafficProfile(0.25), state="connecting"),  # waiting for its QR to be read
    DemoMember("julia-df-01", TrafficProfile(0.3), state="close", code=401),  # logged out, re-paired later
    DemoMember("julia-ce-01", TrafficProfile(0.0), state="close", code=403),  # banned just now
)


@dataclass(frozen=True)
class DemoDoctor:
    name: str
    phone: str  # 55 + DDD + number, as the portal stores it; fictitious
    crm: str
    specialty: str
    instance: str  # a DEMO_FLEET name: the preferred instance


# The demo's doctors, spread over the fleet; the banned number (julia-ce-01) has several, so
# moving a banned number's doctors elsewhere has something to move from the first minute.
DEMO_DOCTORS = (
    DemoDoctor("Dra. Ana Beatriz Souza", "5511987650101", "CRM/SP 123456", "Cardiologia", "julia-sp-01"),
    DemoDoctor("Dr. Bruno Carvalho", "5511987650102", "CRM/SP 98231", "Ortopedia", "julia-sp-01"),
    DemoDoctor("Dra. Camila Rocha", "5511987650103", "CRM/SP 154877", "Dermatologia", "julia-sp-01"),
    DemoDoctor("Dr. Daniel Nogueira", "5511987650104", "CRM/SP 201334", "Pediatria", "julia-sp-01"),
    DemoDoctor("Dra. Eduarda Lima", "5511987650201", "CRM/SP 87710", "Ginecologia e Obstetrícia", "julia-sp-02"),
    DemoDoctor("Dr. Felipe Arantes", "5511987650202", "CRM/SP 176020", "Clínica Médica", "julia-sp-02"),
    DemoDoctor("Dra. Gabriela Mendes", "5511987650203", "", "Psiquiatria", "julia-sp-02"),
    DemoDoctor("Dr. Henrique Tavares", "5511987650301", "CRM/SP 65432", "Endocrinologia", "julia-sp-03"),
    DemoDoctor("Dra. Isabela Franco", "5511987650302", "CRM/SP 190876", "Neurologia", "julia-sp-03"),
    DemoDoctor("Dr. João Pedro Ribeiro", "5521987650101", "CRM/RJ 5234567", "Cardiologia", "julia-rj-01"),
    DemoDoctor("Dra. Larissa Monteiro", "5521987650102", "CRM/RJ 5278910", "Oftalmologia", "julia-rj-01"),
    DemoDoctor("Dr. Marcelo Pinheiro", "5521987650103", "CRM/RJ 5123400", "Urologia", "julia-rj-01"),
    DemoDoctor("Dra. Natália Figueiredo", "5521987650201", "CRM/RJ 5311122", "Pediatria", "julia-rj-02"),
    DemoDoctor("Dr. Otávio Barros", "5521987650202", "", "Clínica Médica", "julia-rj-02"),
    DemoDoctor("Dra. Paula Guimarães", "5531987650101", "CRM/MG 45678", "Ginecologia e Obstetrícia", "julia-mg-01"),
    DemoDoctor("Dr. Rafael Teixeira", "5531987650102", "CRM/MG 61234", "Ortopedia", "julia-mg-01"),
    DemoDoctor("Dra. Sofia Andrade", "5531987650103", "CRM/MG 70011", "Dermatologia", "julia-mg-01"),
    DemoDoctor("Dr. Thiago Moreira", "5541987650101", "CRM/PR 33456", "Gastroenterologia", "julia-pr-01"),
    DemoDoctor("Dra. Úrsula Campos", "5541987650102", "CRM/PR 29876", "Reumatologia", "julia-pr-01"),
    DemoDoctor("Dr. Vinícius Schmidt", "5551987650101", "CRM/RS 41230", "Cardiologia", "julia-rs-01"),
    DemoDoctor("Dra. Yasmin Becker", "5551987650102", "CRM/RS 38765", "Pneumologia", "julia-rs-01"),
    DemoDoctor("Dr. André Cavalcanti", "5581987650101", "CRM/PE 21345", "Clínica Médica", "julia-pe-01"),
    DemoDoctor("Dra. Beatriz Albuquerque", "5581987650102", "CRM/PE 19870", "Pediatria", "julia-pe-01"),
    DemoDoctor("Dr. Caio Santana", "5571987650101", "CRM/BA 27654", "Ortopedia", "julia-ba-01"),
    DemoDoctor("Dra. Daniela Matos", "5571987650102", "CRM/BA 31200", "Endocrinologia", "julia-ba-01"),
    DemoDoctor("Dr. Eduardo Vasconcelos", "5561987650101", "CRM/DF 18765", "Neurologia", "julia-df-01"),
    DemoDoctor("Dra. Fernanda Queiroz", "5561987650102", "CRM/DF 20345", "Psiquiatria", "julia-df-01"),
    DemoDoctor("Dr. Gustavo Holanda", "5585987650101", "CRM/CE 14567", "Cardiologia", "julia-ce-01"),
    DemoDoctor("Dra. Helena Bezerra", "5585987650102", "CRM/CE 15678", "Pediatria", "julia-ce-01"),
    DemoDoctor("Dr. Igor Maia", "5585987650103", "CRM/CE 16789", "Clínica Médica", "julia-ce-01"),
    DemoDoctor("Dra. Juliana Façanha", "5585987650104", "CRM/CE 17890", "Ginecologia e Obstetrícia", "julia-ce-01"),
    DemoDoctor("Dr. Leonardo Sampaio", "5585987650105", "", "Dermatologia", "julia-ce-01"),
)


class DrivenSimulator(Protocol):
    """What the driver needs of a simulator: ``server.GatewaySimulator`` is the one it drives.

    Spelled out here so that this module need not import ``server``, which imports it for
    ``GatewaySimulator.demo()``.
    """

    instances: dict[str, SimInstance]

    def add_instance(self, name: str, *, state: str = "open", disconnection_code: int | None = None) -> SimInstance:
        """Add an instance, closed with a fresh code or open with a stale one."""

    def set_state(self, name: str, state: str, code: int | None = None) -> None:
        """Change an instance's live state, posting the webhooks Evolution would."""

    def send_message(self, name: str) -> str:
        """Post a ``send.message`` webhook for one sent message; return its id."""


@dataclass
class _Change:
    at: float  # seconds since the driver started
    name: str
    state: str
    code: int | None
    note: str
    last: bool  # the incident is over after this change


@dataclass
class _Usage:
    hour: datetime
    hour_count: int = 0
    day: datetime | None = None
    day_count: int = 0


class FleetDriver:
    """Drive a simulator's fleet; see the module docstring."""

    # Incidents per instance per second: about one somewhere in a 12-number fleet every 90 s.
    INCIDENT_RATE = 1 / 1080
    QUIET_START = 120.0  # the scripted opening plays alone for the first two minutes
    BAN_EVERY = 600.0  # at most one random ban per ten minutes
    MAX_BURST = 2  # messages per instance per tick when catching up

    def __init__(
        self,
        sim: DrivenSimulator,
        seed: int | None = None,
        profiles: dict[str, TrafficProfile] | None = None,
        send_rate: float = 0.0,
        changes: bool = True,
        capacity_per_hour: int = DEFAULT_CAPACITY_PER_HOUR,
        capacity_per_day: int = DEFAULT_CAPACITY_PER_DAY,
    ) -> None:
        self.sim = sim
        self.rng = random.Random(seed)
        self.profiles = profiles or {}
        self.send_rate = send_rate  # extra messages per minute, spread over open instances
        self.changes = changes
        self.capacity_per_hour = capacity_per_hour
        self.capacity_per_day = capacity_per_day
        self.started_at: datetime | None = None
        self.sent_total = 0
        self._last_tick: datetime | None = None
        self._changes: list[_Change] = []
        self._busy: set[str] = set()  # instances in the middle of an incident
        self._usage: dict[str, _Usage] = {}
        self._last_ban = -math.inf

    def schedule(self, after: float, name: str, state: str, code: int | None = None, note: str = "") -> None:
        """Plan a state change ``after`` seconds from the start; the instance is busy until its last one."""
        self._busy.add(name)
        for change in self._changes:
            if change.name == name:
                change.last = False
        self._changes.append(_Change(after, name, state, code, note, last=True))
        self._changes.sort(key=lambda c: c.at)

    def hold(self, name: str) -> None:
        """Keep an instance out of random incidents for good."""
        self._busy.add(name)

    def tick(self, now: datetime | None = None) -> list[str]:
        """Advance the story to ``now``; return one line per state change made."""
        now = now or datetime.now(UTC)
        if self.started_at is None:
            self.started_at = self._last_tick = now
        assert self._last_tick is not None
        elapsed = (now - self.started_at).total_seconds()
        dt = max(0.0, (now - self._last_tick).total_seconds())
        self._last_tick = now
        lines = self._apply_due(elapsed)
        if self.changes and elapsed >= self.QUIET_START:
            lines += self._random_incidents(elapsed, dt)
        self.sent_total += self._send_traffic(now, dt)
        return lines

    # --- state changes -------------------------------------------------------------------------

    def _apply_due(self, elapsed: float) -> list[str]:
        lines = []
        while self._changes and self._changes[0].at <= elapsed:
            change = self._changes.pop(0)
            self.sim.set_state(change.name, change.state, code=change.code)
            if change.last:
                self._busy.discard(change.name)
            lines.append(f"{change.name}: {change.note or change.state}")
        return lines

    def _random_incidents(self, elapsed: float, dt: float) -> list[str]:
        expected = len(self.sim.instances) * self.INCIDENT_RATE * dt
        count = min(5, int(expected) + (self.rng.random() < expected % 1))
        lines = []
        for _ in range(count):
            candidates = sorted(i.name for i in self.sim.instances.values() if i.state == "open")
            candidates = [name for name in candidates if name not in self._busy]
            down = sum(1 for i in self.sim.instances.values() if i.state != "open")
            if not candidates or down >= max(2, len(self.sim.instances) // 4):
                break  # keep most of the fleet up: the demo must stay readable
            name = self.rng.choice(candidates)
            roll = self.rng.random()
            if roll < 0.08 and elapsed - self._last_ban >= self.BAN_EVERY:
                self._last_ban = elapsed
                lines.append(self._incident(name, elapsed, "ban"))
            elif roll < 0.5:
                lines.append(self._incident(name, elapsed, "drop"))
            else:
                lines.append(self._incident(name, elapsed, "blip"))
        return lines

    def _incident(self, name: str, elapsed: float, kind: str) -> str:
        """Start an incident now and schedule its end; return the line describing it."""
        if kind == "blip":
            back = self.rng.uniform(8, 25)
            self.sim.set_state(name, "connecting")
            self.schedule(elapsed + back, name, "open", note="reconectada")
            return f"{name}: oscilou (conectando); volta em ~{back:.0f} s"
        if kind == "drop":
            back = self.rng.uniform(100, 220)
            self.sim.set_state(name, "close", code=428)
            self.schedule(elapsed + back, name, "connecting", note="reconectando")
            self.schedule(elapsed + back + self.rng.uniform(5, 10), name, "open", note="reconectada")
            return f"{name}: caiu (428); volta em ~{back / 60:.0f} min"
        back = self.rng.uniform(480, 720)
        self.sim.set_state(name, "close", code=403)
        self.schedule(elapsed + back, name, "connecting", note="novo chip: lendo QR")
        self.schedule(elapsed + back + 10, name, "open", note="reconectada com novo chip")
        return f"{name}: BANIDA (403); troca de chip em ~{back / 60:.0f} min"

    # --- traffic ---------------------------------------------------------------------------------

    def _send_traffic(self, now: datetime, dt: float) -> int:
        local = now.astimezone(LOCAL_TZ)
        hour = local.replace(minute=0, second=0, microsecond=0)
        day = hour.replace(hour=0)
        fraction = (local - hour).total_seconds() / 3600
        sent = 0
        for name, profile in self.profiles.items():
            instance = self.sim.instances.get(name)
            if instance is None or instance.state != "open" or profile.load <= 0:
                continue
            usage = self._usage_of(name, hour, day)
            goal = math.floor(
                self.capacity_per_hour * profile.load * (profile.head_start + (1 - profile.head_start) * fraction)
            )
            day_room = math.floor(self.capacity_per_day * profile.load) - (usage.day_count - usage.hour_count)
            deficit = min(goal, day_room) - usage.hour_count
            if deficit <= 0 or (deficit == 1 and self.rng.random() < 0.5):
                continue  # the coin on the last message keeps the timing irregular
            sent += self._send(name, min(deficit, self.MAX_BURST), hour, day)
        if self.send_rate > 0:
            expected = self.send_rate * dt / 60
            count = int(expected) + (self.rng.random() < expected % 1)
            open_names = sorted(i.name for i in self.sim.instances.values() if i.state == "open")
            for _ in range(count if open_names else 0):
                sent += self._send(self.rng.choice(open_names), 1, hour, day)
        return sent

    def _usage_of(self, name: str, hour: datetime, day: datetime) -> _Usage:
        usage = self._usage.setdefault(name, _Usage(hour=hour, day=day))
        if usage.day != day:
            usage.day, usage.day_count = day, 0
        if usage.hour != hour:
            usage.hour, usage.hour_count = hour, 0
        return usage

    def _send(self, name: str, count: int, hour: datetime, day: datetime) -> int:
        usage = self._usage_of(name, hour, day)
        for _ in range(count):
            self.sim.send_message(name)
        usage.hour_count += count
        usage.day_count += count
        return count


def build_demo_fleet(sim: DrivenSimulator, seed: int | None = None, changes: bool = True) -> FleetDriver:
    """Load the demo fleet into ``sim`` and return its driver, with the opening already planned.

    The opening gives a viewer something to see within minutes: a blip that heals in
    20 s, a number whose QR gets read at 2.5 min, a drop of a seeded-chosen number from
    ~50 s lasting about three minutes (long enough for the per-minute check to see it), and
    the logged-out number re-paired at 4 min. The banned one stays banned.
    """
    for member in DEMO_FLEET:
        sim.add_instance(member.name, state=member.state, disconnection_code=member.code)
    driver = FleetDriver(sim, seed=seed, profiles={m.name: m.profile for m in DEMO_FLEET}, changes=changes)
    driver.schedule(20, "julia-pe-01", "open", note="reconectada")
    driver.schedule(150, "julia-ba-01", "open", note="QR lido: conectada")
    driver.schedule(240, "julia-df-01", "connecting", note="novo QR: conectando")
    driver.schedule(250, "julia-df-01", "open", note="pareada de novo: conectada")
    driver.hold("julia-ce-01")  # the banned one waits for an operator, not for the dice
    if changes:
        steady = ["julia-sp-03", "julia-rj-01", "julia-mg-01", "julia-rs-01"]
        victim = driver.rng.choice(steady)
        start, back = 50 + driver.rng.uniform(0, 15), driver.rng.uniform(170, 210)
        driver.schedule(start, victim, "close", code=428, note="caiu (428)")
        driver.schedule(start + back, victim, "connecting", note="reconectando")
        driver.schedule(start + back + 8, victim, "open", note="reconectada")
    return driver
