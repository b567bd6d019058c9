"""The log's safety net: every record is formatted as one line, whatever text it carries.

Code escapes outside text itself (``text.one_line``) where it logs it; this formatter makes a
forgotten place harmless too. Only the message is escaped: a traceback, appended after it,
keeps its lines.
"""

from __future__ import annotations

import logging

from julia_monitor.lib.text import one_line


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)
