"""gunicorn's own log lines (its error log and its access log) as JSON, for ``LOG_FORMAT=json``.

gunicorn sets its handlers up itself, where ``GUNICORN_ERROR_LOG``/``GUNICORN_ACCESS_LOG`` say;
this logger class keeps them and changes only their format. The access line keeps the configured
(query-free) text in ``message`` and adds its safe parts as keys (``logs.GUNICORN_ACCESS_FIELDS``).
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from julia_monitor.lib.logs import GunicornAccessJsonFormatter, JsonFormatter


class JsonLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log, formatter in ((self.error_log, JsonFormatter()), (self.access_log, GunicornAccessJsonFormatter())):
            for handler in log.handlers:
                handler.setFormatter(formatter)
