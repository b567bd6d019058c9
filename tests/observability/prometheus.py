"""A real Prometheus server (Debian's ``prometheus`` package) on loopback, scraping the portal as the README says.

The scrape job is the README's, word for word but for the target and the token; only the global
scrape interval is shortened (1 s instead of a minute) so a test sees samples within seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.common import closed_port

PROMETHEUS = os.environ.get("PROMETHEUS_PATH", "/usr/bin/prometheus")

# The README's scrape configuration: "<METRICS_TOKEN>" and the target are filled in.
SCRAPE_CONFIG = """\
scrape_configs:
  - job_name: julia-monitor
    authorization: {credentials: "<METRICS_TOKEN>"}
    static_configs: [{targets: ["portal.example:8000"]}]
"""
GLOBAL = "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"


def why_no_prometheus() -> str:
    """Return why a Prometheus server cannot run here, or "" if it can."""
    if not Path(PROMETHEUS).exists():
        return f"Prometheus not installed ({PROMETHEUS}): apt-get install prometheus (.ci/run does)"
    return ""


def config_for(target: str, token: str) -> str:
    return GLOBAL + SCRAPE_CONFIG.replace("<METRICS_TOKEN>", token).replace("portal.example:8000", target)


class PrometheusServer:
    """One Prometheus process with its own configuration and storage in a temporary directory."""

    def __init__(self, config: str) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="julia-prometheus-"))
        self.port = closed_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.home / "prometheus.yml").write_text(config, encoding="utf-8")
        self.log = self.home / "prometheus.log"
        args = [
            PROMETHEUS,
            f"--config.file={self.home / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.home / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.client = httpx.Client(base_url=self.url, timeout=5)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def api(self, path: str, **params: Any) -> Any:
        """Return the ``data`` of a Prometheus API answer; fail with Prometheus's own error otherwise."""
        answer = self.client.get(f"/api/v1/{path}", params=params)
        body = answer.json()
        assert answer.status_code == 200 and body["status"] == "success", f"{path} {params}: {answer.text}"
        return body["data"]

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        self._wait(timeout, "ready", self._ready)

    def wait_until_target_up(self, timeout: float = 30.0) -> dict[str, Any]:
        """Return the scrape target once Prometheus says it is up (it has scraped it at least once)."""
        found: list[dict[str, Any]] = []

        def up() -> bool:
            if not self._ready():
                return False
            found[:] = self.api("targets", state="active")["activeTargets"]
            return bool(found) and all(target["health"] == "up" for target in found)

        self._wait(timeout, f"the scrape target up (last seen: {found})", up)
        return found[0]

    def wait_for_scrapes(self, count: int, timeout: float = 30.0) -> None:
        """Wait until Prometheus has scraped the target ``count`` times (a line needs two points)."""

        def scraped() -> bool:
            result = self.api("query", query="count_over_time(up[5m])")["result"]
            return bool(result) and float(result[0]["value"][1]) >= count

        self._wait(timeout, f"{count} scrapes", scraped)

    def _ready(self) -> bool:
        try:
            return self.client.get("/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    def _wait(self, timeout: float, what: str, condition: Any) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.output()}")
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError(f"no {what} within {timeout:g} s:\n{self.output()}")

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)
