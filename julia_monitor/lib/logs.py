"""Log formats: one line per record, for people (``text``) or for machines (``json``).

``text`` is the safety net for people: code escapes outside text itself (``text.one_line``)
where it logs it; this formatter makes a forgotten place harmless too. Only the message is
escaped: a traceback, appended after it, keeps its lines.

``json`` (``LOG_FORMAT=json``) writes one JSON object per line: ``time`` (ISO 8601, UTC, with
its offset), ``level``, ``logger``, ``message``, ``exc_info`` (the traceback, when there is one)
and every field a caller passed in ``extra=`` as a key of its own. JSON escapes newlines itself,
so the message keeps its own text; a value JSON cannot say is written as its ``str``. Stdlib
only: gunicorn's master process uses it before Django is loaded.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from julia_monitor.lib.text import one_line

FORMATS = ("text", "json")

# Everything a LogRecord carries by itself; any other attribute came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)
# Keys of the line itself, which an ``extra=`` field may not replace.
_OWN_KEYS = ("time", "level", "logger", "message", "exc_info", "stack_info")
# JSON leaves these raw with ensure_ascii=False, and Python's splitlines() (and some log
# shippers) break a line on them: escaped, every record stays one line for every reader.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)


def _request_fields(request: Any) -> dict[str, Any]:
    """Return what Django's ``request`` extra may say in a log: method and path, never the query string.

    Django's request loggers pass the request itself; its ``str`` is the full path, and a query
    string can carry a secret (the global webhook's ``?token=``).
    """
    return {"method": getattr(request, "method", None), "path": getattr(request, "path", None)}


def _as_text(value: object) -> str:
    """Return ``str(value)`` for a value JSON cannot say, or its type's name if even that fails."""
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring); never raises on what ``extra=`` carries."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.message,
        }
        for key, value in self.fields(record).items():
            line[key if key not in _OWN_KEYS else f"extra_{key}"] = value
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        text = json.dumps(line, ensure_ascii=False, default=_as_text)
        for char, escaped in _LINE_BREAKS.items():
            text = text.replace(char, escaped)
        return text

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """Return the structured fields of ``record``: what ``extra=`` added to it."""
        found: dict[str, Any] = {}
        for key, value in vars(record).items():
            if key in _RECORD_ATTRIBUTES or key.startswith("_"):
                continue
            if key == "request":
                found.update({k: v for k, v in _request_fields(value).items() if k not in vars(record)})
            else:
                found[key] = value
        return found


# gunicorn's access atoms (``glogging.Logger.atoms``) a JSON line may carry: never ``q`` (the
# query string), ``r`` (the request line, with it) or ``f`` (the referrer, a whole URL).
GUNICORN_ACCESS_FIELDS = {
    "h": "remote_addr",
    "m": "method",
    "U": "path",
    "s": "status",
    "B": "bytes",
    "M": "duration_ms",
    "a": "user_agent",
}


class GunicornAccessJsonFormatter(JsonFormatter):
    """gunicorn's access lines as JSON: the configured (query-free) text in ``message``, its safe atoms as keys."""

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        atoms = record.args if isinstance(record.args, dict) else {}
        return {key: atoms.get(atom) for atom, key in GUNICORN_ACCESS_FIELDS.items() if atom in atoms}


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """Return ``settings.LOGGING``: every logger through one console handler in ``log_format``."""
    loggers: dict[str, dict[str, Any]] = {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # Failures and lockouts are warnings; every successful login is not worth a line.
        "axes": {"level": "WARNING"},
        # django-q2 gives its logger a handler of its own, in its own format, when it finds
        # none; configured here, it writes through ours like every other logger.
        "django-q": {"handlers": ["console"], "propagate": False},
    }
    if log_format == "json":
        # Django's defaults, configured before these, give "django" a console handler of its own
        # (printing under DEBUG) and "django.server" (runserver) its own format: every line of a
        # JSON log must be JSON, so both write through ours alone.
        loggers["django"] = {"handlers": [], "propagate": True}
        loggers["django.server"] = {"handlers": ["console"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        # One record, one line: outside text (names, ids, gateway errors) cannot forge a second one.
        "formatters": {
            "plain": {
                "()": "julia_monitor.lib.logs.OneLineFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            },
            "json": {"()": "julia_monitor.lib.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json" if log_format == "json" else "plain"}
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": loggers,
    }


def configure(config: dict[str, Any]) -> None:
    """``settings.LOGGING_CONFIG``: apply ``config``; in JSON, Python's warnings become records too.

    Otherwise a warning (a library's deprecation, a missing static directory) is printed to stderr
    as two lines of plain text, in the middle of a JSON log.
    """
    logging.config.dictConfig(config)
    if config["handlers"]["console"]["formatter"] == "json":
        logging.captureWarnings(True)
