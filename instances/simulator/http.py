"""A minimal HTTP/1.1 server on asyncio streams, enough for keep-alive JSON clients (httpx).

Why not uvicorn: the simulator must be able to drop a connection without answering (the
"down" fault), start and stop in milliseconds many times per test run, and cancel requests
that are still sleeping; a few dozen lines of asyncio do all three without an ASGI layer.
It only speaks what the simulator needs: Content-Length bodies, no chunked requests, no
pipelining guarantees beyond answering requests of one connection in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlsplit

logger = logging.getLogger("instances.simulator")

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query string
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    extra_headers: dict[str, str] = field(default_factory=dict)


# The handler returns None to drop the connection without an answer.
Handler = Callable[[Request], Awaitable[Response | None]]


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    """Return (method, target, version, headers) of a request head, or raise BadRequest."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest(400, "bad encoding") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "bad request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, "bad header line")
        headers[name.lower()] = value.strip()
    return method.upper(), target, version, headers


def split_target(target: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(target)
    return unquote(parts.path or "/"), dict(parse_qsl(parts.query, keep_blank_values=True))


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def render(response: Response, keep_alive: bool) -> bytes:
    reason = reason_phrase(response.status)
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        "Connection: keep-alive" if keep_alive else "Connection: close",
        "Server: julia-gateway-simulator",
    ]
    lines.extend(f"{name}: {value}" for name, value in response.extra_headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


class HttpServer:
    """Serve ``handler`` on one host/port from the running event loop."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def open(self, host: str, port: int) -> int:
        """Start listening; return the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(
            self._serve_connection, host, port, limit=MAX_HEAD_BYTES, backlog=2048, reuse_address=True
        )
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and cut every open connection, including requests still sleeping."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve_requests(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        except asyncio.CancelledError:
            writer.transport.abort()
        except Exception:
            logger.exception("simulator: unexpected error while serving a connection")
        finally:
            self._connections.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _serve_requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # clean end of a keep-alive connection
            except asyncio.LimitOverrunError:
                await self._reply_error(writer, 431, "request head too large")
                return
            try:
                method, target, version, headers = parse_head(head[:-4])
                body = await self._read_body(reader, headers)
            except BadRequest as error:
                await self._reply_error(writer, error.status, str(error))
                return
            path, query = split_target(target)
            response = await self._handler(Request(method, path, query, headers, body))
            if response is None:
                writer.transport.abort()  # the "gateway down" fault: no answer at all
                return
            if writer.is_closing():
                return  # the client gave up (timeout) while we were sleeping
            keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            writer.write(render(response, keep_alive))
            await writer.drain()
            if not keep_alive:
                return

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise BadRequest(411, "chunked request bodies are not supported")
        raw_length = headers.get("content-length", "0") or "0"
        if not raw_length.isdigit():
            raise BadRequest(400, "bad content-length")
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            raise BadRequest(413, "request body too large")
        return await reader.readexactly(length) if length else b""

    async def _reply_error(self, writer: asyncio.StreamWriter, status: int, message: str) -> None:
        body = json.dumps({"status": status, "error": reason_phrase(status), "message": message}).encode()
        writer.write(render(Response(status, body), keep_alive=False))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
