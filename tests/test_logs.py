"""The redacting filter, on its own: secrets never reach a log line, and a record it cannot
format is still logged rather than raised into the code that logged it."""

from __future__ import annotations

import io
import logging

from bot.logs import REDACTED, RedactingFilter

SECRET = "xoxb-LOGS1-unit-7c2a9e1b"


def _logger(stream: io.StringIO) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([SECRET]))
    logger = logging.getLogger("tests.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    return logger


def test_secrets_in_the_message_and_its_arguments_are_redacted() -> None:
    out = io.StringIO()
    _logger(out).warning("token %s in %s", SECRET, f"https://x/{SECRET}/y")
    assert SECRET not in out.getvalue() and out.getvalue().count(REDACTED) == 2


def test_arguments_that_do_not_fit_the_message_are_logged_not_raised() -> None:
    out = io.StringIO()
    _logger(out).warning("two %s %s but one", SECRET)  # raised TypeError into the caller
    line = out.getvalue()
    assert "two %s %s but one" in line and REDACTED in line and SECRET not in line
