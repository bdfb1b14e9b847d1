"""No credential in anything streamproc prints: URLs, config dumps, validation errors,
log lines (``streamproc/redaction.py``)."""

from __future__ import annotations

import logging

import pytest

from streamproc.redaction import RedactedLogRecord, redact_text, redact_tree, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://cam/stream", "rtsp://cam/stream"),
        ("rtsp://user@cam/stream", "rtsp://user@cam/stream"),
        ("rtsp://admin:pw@cam:554/s", "rtsp://admin:***@cam:554/s"),
        ("rtsp://:pw@cam/s", "rtsp://:***@cam/s"),  # no user
        ("rtsp://admin:p/w@cam/s", "rtsp://admin:***@cam/s"),  # a / in the password
        ("rtsp://admin:p@ss@cam:554/s", "rtsp://admin:***@cam:554/s"),  # an @ in it
        ("http://cam/snap?user=a&password=pw&x=1", "http://cam/snap?user=a&password=***&x=1"),
        ("http://cam/s?pass=1&pwd=2&secret=3", "http://cam/s?pass=***&pwd=***&secret=***"),
        ("https://h/v?key=k&auth=a&keyint=5", "https://h/v?key=***&auth=***&keyint=5"),
        ("http://h/v?a=1&token=t#f", "http://h/v?a=1&token=***#f"),
        ("http://h/v?access_token=t", "http://h/v?access_token=***"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("/data/clip.mp4", "/data/clip.mp4"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_text_tree_and_log_lines_are_redacted() -> None:
    msg = "cannot open 'rtsp://a:s3cr@t@cam/x' (timeout); also redis://:pw2@h:1/0"
    out = redact_text(msg)
    assert "s3cr" not in out and "pw2" not in out and "cam/x" in out and "h:1/0" in out
    tree = {"state": {"url": "redis://:pw@h", "password": "pw", "key_prefix": "sp"}}
    assert redact_tree(tree) == {
        "state": {"url": "redis://:***@h", "password": "***", "key_prefix": "sp"}
    }
    rec = RedactedLogRecord(
        "x", logging.WARNING, "f", 1, "camera %s lost", ("rtsp://u:pw@c",), None
    )
    assert rec.getMessage() == "camera rtsp://u:***@c lost"
