"""Logging set-up: readable lines by default, JSON on request, secrets never shown."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

REDACTED = "[redacted]"


class RedactingFilter(logging.Filter):
    """Replaces every known secret value (tokens, signing secrets, webhook URLs) in a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for s in secrets:
            if s and len(s) >= 6 and s not in self.secrets:
                self.secrets.append(s)
        self.secrets.sort(key=len, reverse=True)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            try:
                message = record.getMessage()
            except Exception:  # arguments that do not fit the format: shown, not raised
                message = f"{record.msg} {record.args!r}"
            record.msg = self.redact(message)
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=False)


_redactor = RedactingFilter()


def redactor() -> RedactingFilter:
    """The process-wide redacting filter; adapters add the secrets they learn (webhook URLs)."""
    return _redactor


def json_enabled() -> bool:
    """Whether logs go to stderr as JSON lines (``--log-format json``)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Send logs to stderr in ``fmt`` ("text" or "json"), with ``secrets`` redacted."""
    _redactor.add(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_redactor)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Python's warnings would otherwise be bare lines on stderr, outside the format.
    logging.captureWarnings(True)
    # Libraries are chatty at INFO; their warnings still come through. (slack_sdk's debug lines
    # also name each response_url, a per-command webhook URL, in full.)
    quiet = ("httpx", "httpcore", "alembic", "apscheduler", "discord", "slack_bolt", "slack_sdk")
    for name in (*quiet, "aiohttp"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # Its "skipped: maximum number of running instances" is routine for our reconcile job; what
    # matters (a digest skipped or late) the scheduler logs itself.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
