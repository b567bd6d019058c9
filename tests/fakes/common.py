"""What the local fake servers share: a port nothing listens on, and waiting for what arrives."""

from __future__ import annotations

import socket
import threading
from typing import Any


def closed_port() -> int:
    """Return a local port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_items(cond: threading.Condition, items: list[Any], n: int, timeout: float, what: str) -> list[Any]:
    """Return a copy of ``items`` once it holds ``n``; fail the test after ``timeout`` seconds."""
    with cond:
        if not cond.wait_for(lambda: len(items) >= n, timeout):
            raise AssertionError(f"timed out after {timeout}s waiting for {n} {what}, got {len(items)}")
        return list(items)
