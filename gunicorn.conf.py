"""gunicorn settings for the portal's web processes: ``gunicorn -c gunicorn.conf.py julia_monitor.wsgi``.

Everything comes from the environment, with defaults for one small host:

- ``PORT`` (8000) and ``BIND_HOST`` (0.0.0.0): where to listen.
- ``WEB_CONCURRENCY`` (2) worker processes, ``GUNICORN_THREADS`` (4) threads each (``gthread``).
- ``GUNICORN_TIMEOUT`` (30 s): a worker silent this long is restarted. Every gateway call has its
  own ``EVOLUTION_TIMEOUT`` (5 s) well inside it.
- ``GUNICORN_ACCESS_LOG`` (``-``, stdout) and ``GUNICORN_ERROR_LOG`` (``-``, stderr).
- ``LOG_FORMAT`` (``text``): ``json`` writes both logs one JSON object per line, like the portal's.
- ``BEHIND_TLS_PROXY`` (false): the same switch as the settings'. Only then are ``X-Forwarded-*``
  headers trusted, and only from ``FORWARDED_ALLOW_IPS`` (default: the proxy on this host).

The access log never writes query strings: the global Evolution webhook carries the shared
secret as ``?token=``, and a log is read by more people, and kept longer, than a secret may be.
"""

from __future__ import annotations

import os


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise SystemExit(f"{name} must be an integer >= {minimum}, got {raw!r}")
    return int(raw)


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SystemExit(f"{name} must be a boolean (true/false), got {raw!r}")


# A container reaches the process from outside; behind a proxy on the same host, set BIND_HOST.
bind = [f"{os.environ.get('BIND_HOST', '0.0.0.0').strip()}:{_env_int('PORT', 8000)}"]  # noqa: S104
worker_class = "gthread"
workers = _env_int("WEB_CONCURRENCY", 2)
threads = _env_int("GUNICORN_THREADS", 4)
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)

# Forwarded headers decide the scheme Django sees (https or not): trusted from the proxy only.
forwarded_allow_ips = (
    os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1") if _env_bool("BEHIND_TLS_PROXY", False) else ""
)

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
# The default format's %(r)s is the request line with its query string; %(U)s is the path alone.
# No %(q)s, %(r)s or %(f)s (a referrer is a whole URL too). %(M)s: duration in milliseconds.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'

# The portal's LOG_FORMAT covers gunicorn's own lines too (docs/logs.md).
log_format = os.environ.get("LOG_FORMAT", "text").strip().lower() or "text"
if log_format not in {"text", "json"}:
    raise SystemExit(f"LOG_FORMAT must be one of text, json, got {log_format!r}")
if log_format == "json":
    logger_class = "julia_monitor.lib.gunicorn_logs.JsonLogger"
