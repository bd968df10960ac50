"""The CLI's log redaction: signed links never reach the access log."""

from __future__ import annotations

import logging

from keepgate.cli import RedactTokens


def test_tokens_in_access_log_lines_are_redacted() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/not-me?token=abc.def&x=1", "1.1", 200),
                               None)
    assert RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /not-me?token=[redacted]&x=1 HTTP/1.1" 200'


def test_lines_without_tokens_are_untouched() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "%s", ("/login",),
                               None)
    assert RedactTokens().filter(record) and record.getMessage() == "/login"
