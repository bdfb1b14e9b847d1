"""The one rule for camera ids, shared by the config, the wire format and the CLI.

A camera id keys Kafka messages, names Redis keys (``P:camera:ID:state``) and SQLite rows,
and becomes a Prometheus label value. Ids from the wire are untrusted, so each of those
places must accept exactly what the config accepts, and nothing that could grow a key or
label space without bound (no ``:``, the Redis key separator; at most 64 characters).
"""

from __future__ import annotations

import re

CAMERA_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
CAMERA_ID_RULE = "1-64 characters of A-Z a-z 0-9 . _ -"


def is_camera_id(value: object) -> bool:
    """True for a string that may name a camera (matched whole: no trailing newline)."""
    return isinstance(value, str) and CAMERA_ID.fullmatch(value) is not None
