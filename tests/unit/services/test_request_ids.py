"""keepgate.services.request_ids: which client ids are kept, and log records that carry the id."""

from __future__ import annotations

import logging

import pytest

from keepgate.cli import LOG_CONFIG
from keepgate.services import request_ids


@pytest.mark.parametrize("sent", ["abc", "A1._:-z", "x" * 64])
def test_short_plain_ids_are_kept(sent: str) -> None:
    assert request_ids.accept_or_new(sent) == sent


@pytest.mark.parametrize("sent", [None, "", "x" * 65, "a b", "a\nb", "caf\u00e9", "a;b"])
def test_anything_else_is_replaced_by_a_random_id(sent: str | None) -> None:
    made = request_ids.accept_or_new(sent)
    assert made != sent and len(made) == 32 and made != request_ids.accept_or_new(sent)


def test_the_served_log_format_names_the_request_id() -> None:
    formatters = LOG_CONFIG["formatters"]
    assert isinstance(formatters, dict)
    fmt = formatters["plain"]["format"]
    record = logging.LogRecord("keepgate", logging.INFO, __file__, 1, "hello", None, None)
    token = request_ids.CURRENT.set("req-1")
    try:
        assert request_ids.RequestIdFilter().filter(record)
    finally:
        request_ids.CURRENT.reset(token)
    assert logging.Formatter(fmt).format(record) == "INFO keepgate [req-1]: hello"


def test_records_made_outside_a_request_say_so() -> None:
    request_ids.stamp_log_records()
    request_ids.stamp_log_records()  # twice changes nothing
    record = logging.getLogger("keepgate.test").makeRecord(
        "keepgate.test", logging.INFO, __file__, 1, "x", None, None)
    assert record.request_id == "-"  # type: ignore[attr-defined]
    token = request_ids.CURRENT.set("req-2")
    try:
        inside = logging.getLogRecordFactory()("n", logging.INFO, __file__, 1, "x", None, None)
    finally:
        request_ids.CURRENT.reset(token)
    assert inside.request_id == "req-2"  # type: ignore[attr-defined]
