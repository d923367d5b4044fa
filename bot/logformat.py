"""How log lines look: `LEVEL logger: message` for people, or one JSON object per line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "formatter"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line (`KNEEBOT_LOG_FORMAT=json`), for log shippers: time, level,
    logger, message, and a failure's traceback as one string when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def formatter(form: str) -> logging.Formatter:
    return JsonFormatter() if form == "json" else logging.Formatter("%(levelname)s %(name)s: %(message)s")
