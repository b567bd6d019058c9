"""The ``simulate_gateway`` command: bad options and scripts get one clear line, a script plays, a port is taken."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from instances.simulator import GatewaySimulator


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--latency-ms", "abc"], "--latency-ms inválido"),
        (["--latency-ms", "150-50"], "--latency-ms inválido"),
        (["--hang-share", "1.5"], "--hang-share"),
        (["--webhook-url", "ftp://x"], "--webhook-url inválida"),
        (["--demo", "--instances", "3"], "--demo ou --instances"),
        (["--script", "/nonexistent/steps.json"], "não encontrado"),
    ],
)
def test_the_command_rejects_bad_options_with_one_clear_line(arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("simulate_gateway", "--port", "0", *arguments)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("[{", "não é JSON válido"),
        ('{"at": 1}', "lista JSON"),
        ('[{"at": 1, "instance": "sim-001", "state": "gone"}]', 'passo 1: "state"'),
        ('[{"at": -1, "send": "sim-001"}]', 'passo 1: "at"'),
        ('[{"at": 1, "send": "sim-999"}]', "inexistente"),
    ],
)
def test_the_command_rejects_a_bad_script_before_starting(tmp_path: Path, script, message):
    path = tmp_path / "steps.json"
    path.write_text(script)

    with pytest.raises(CommandError, match=message):
        call_command("simulate_gateway", "--port", "0", "--instances", "3", "--script", str(path))


def test_the_command_plays_a_script_and_stops_cleanly(tmp_path: Path, receiver, capsys):
    path = tmp_path / "steps.json"
    path.write_text(
        '[{"at": 0, "send": "sim-002", "count": 2}, {"at": 0, "instance": "sim-001", "state": "close", "code": 403}]'
    )

    call_command(
        "simulate_gateway",
        *("--port", "0", "--instances", "3", "--duration", "0.3", "--script", str(path)),
        *("--webhook-url", receiver.url, "--webhook-secret", "segredo-do-simulador-com-32-caracteres"),
    )

    output = capsys.readouterr().out
    assert "Simulador Evolution (v2) em http://127.0.0.1:" in output and "3 instâncias" in output
    assert "Simulador encerrado." in output
    events = [(p["event"], p["instance"]) for p in receiver.wait_for(4)]
    assert events.count(("send.message", "sim-002")) == 2
    assert ("status.instance", "sim-001") in events
    # By default it signs like a per-instance Evolution webhook with jwt_key.
    assert all(headers["Authorization"].startswith("Bearer ") for headers, _ in receiver.received)


def test_the_command_says_so_when_its_port_is_taken():
    with GatewaySimulator() as taken:
        port = taken.url.rsplit(":", 1)[1]

        with pytest.raises(CommandError, match=f"não foi possível abrir 127.0.0.1:{port}"):
            call_command("simulate_gateway", "--port", port, "--instances", "1")
