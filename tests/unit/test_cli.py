"""The CLI's log redaction: signed links never reach the access log."""

from __future__ import annotations

import logging

import pytest

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


def test_serve_announces_the_address_people_use_on_the_configured_port(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    from keepgate import cli
    from keepgate.config import Settings

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    monkeypatch.setattr(cli.os, "environ", {})
    cli.serve(Settings.from_env({"KEEPGATE_PORT": "8123"}, announce=False), None)
    out = capsys.readouterr().out
    assert "http://localhost:8123" in out
    assert ":8000" not in out
