"""Timed scripts for the simulator: a JSON list of steps played at fixed seconds after start.

    [{"at": 5, "instance": "sim-001", "state": "close", "code": 403},
     {"at": 7, "send": "sim-002", "count": 3},
     {"at": 9, "fault": "hang", "instance": "sim-003"},
     {"at": 12, "gateway": "license_required"},
     {"at": 20, "gateway": null}]

A script is checked whole before anything runs, so a typo fails at start with the step's
number instead of half-way through a benchmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instances.simulator.server import GatewaySimulator
from instances.simulator.shapes import GATEWAY_FAULTS, INSTANCE_FAULTS, INSTANCE_STATES

_KINDS = ("state", "send", "fault", "gateway")
_ALLOWED_KEYS = {"at", "instance", "state", "code", "send", "count", "fault", "gateway"}


class ScriptError(ValueError):
    """A script that cannot be played; the message names the file and step."""


@dataclass(frozen=True)
class ScriptStep:
    at: float
    kind: str  # one of _KINDS
    instance: str | None = None
    state: str | None = None
    code: int | None = None
    count: int = 1
    fault: str | None = None

    def describe(self) -> str:
        if self.kind == "state":
            return f"{self.instance}: {self.state}" + (f" ({self.code})" if self.code is not None else "")
        if self.kind == "send":
            return f"{self.instance}: {self.count} mensagem(ns) enviada(s)"
        if self.kind == "fault":
            return f"{self.instance}: falha {self.fault or 'removida'}"
        return f"gateway: falha {self.fault or 'removida'}"

    def play(self, sim: GatewaySimulator) -> None:
        if self.kind == "state":
            assert self.instance is not None and self.state is not None
            sim.set_state(self.instance, self.state, code=self.code)
        elif self.kind == "send":
            assert self.instance is not None
            for _ in range(self.count):
                sim.send_message(self.instance)
        elif self.kind == "fault":
            assert self.instance is not None
            sim.set_fault(self.instance, self.fault)
        else:
            sim.set_gateway_fault(self.fault)


def _fault_value(value: Any, allowed: tuple[str, ...], where: str) -> str | None:
    if value is None or value == "none":
        return None
    if value not in allowed:
        raise ScriptError(f"{where}: falha deve ser uma de {', '.join(allowed)} ou null, não {value!r}")
    return value


def parse_step(raw: Any, where: str) -> ScriptStep:
    """Return the step described by one JSON object, or raise ScriptError naming ``where``."""
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: cada passo deve ser um objeto JSON")
    unknown = set(raw) - _ALLOWED_KEYS
    if unknown:
        raise ScriptError(f"{where}: chave(s) desconhecida(s): {', '.join(sorted(unknown))}")
    at = raw.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float) or at < 0:
        raise ScriptError(f'{where}: "at" deve ser um número de segundos >= 0')
    kinds = [kind for kind in ("send", "gateway", "fault", "state") if kind in raw]
    if len(kinds) != 1:
        raise ScriptError(f'{where}: use exatamente uma de "state", "send", "fault" ou "gateway"')
    kind = kinds[0]
    if kind == "gateway":
        return ScriptStep(float(at), kind, fault=_fault_value(raw["gateway"], GATEWAY_FAULTS, where))
    instance = raw["send"] if kind == "send" else raw.get("instance")
    if not isinstance(instance, str) or not instance:
        raise ScriptError(f'{where}: falta o nome da instância ("instance")')
    if kind == "send":
        count = raw.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
            raise ScriptError(f'{where}: "count" deve ser um inteiro entre 1 e 10000')
        return ScriptStep(float(at), kind, instance=instance, count=count)
    if kind == "fault":
        return ScriptStep(float(at), kind, instance=instance, fault=_fault_value(raw["fault"], INSTANCE_FAULTS, where))
    if raw["state"] not in INSTANCE_STATES:
        raise ScriptError(f'{where}: "state" deve ser um de {", ".join(INSTANCE_STATES)}')
    code = raw.get("code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise ScriptError(f'{where}: "code" deve ser um inteiro')
    return ScriptStep(float(at), kind, instance=instance, state=raw["state"], code=code)


def load_script(path: str | Path) -> list[ScriptStep]:
    """Read and check a script file; return its steps sorted by time."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptError(f"roteiro {path} não encontrado") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ScriptError(f"roteiro {path} ilegível: {error}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ScriptError(f"roteiro {path} não é JSON válido: {error}") from None
    if not isinstance(raw, list):
        raise ScriptError(f"roteiro {path}: esperava uma lista JSON de passos")
    steps = [parse_step(item, f"roteiro {path}, passo {n}") for n, item in enumerate(raw, start=1)]
    return sorted(steps, key=lambda step: step.at)


def check_names(steps: list[ScriptStep], sim: GatewaySimulator) -> None:
    """Raise ScriptError if a step names an instance the simulator does not have."""
    missing = sorted({s.instance for s in steps if s.instance is not None and s.instance not in sim.instances})
    if missing:
        raise ScriptError(f"o roteiro cita instância(s) inexistente(s): {', '.join(missing)}")


class ScriptPlayer:
    """Play the steps whose time has come."""

    def __init__(self, steps: list[ScriptStep]) -> None:
        self._steps = list(steps)

    @property
    def done(self) -> bool:
        return not self._steps

    def play_due(self, sim: GatewaySimulator, elapsed: float) -> list[str]:
        lines = []
        while self._steps and self._steps[0].at <= elapsed:
            step = self._steps.pop(0)
            step.play(sim)
            lines.append(step.describe())
        return lines
