"""Credentials out of everything streamproc prints: configs, errors, log lines.

One rule for URLs (``redact_url``): the password of the user-info is masked, the user-info
being everything before the LAST ``@`` of the authority (a password may hold ``/`` or
``@``), and so are query parameters that carry secrets (password, pass, pwd, token,
secret, key, auth, and names ending in them, e.g. ``access_token``). ``redact_text``
applies it to every URL inside a message; ``redact_tree`` to a config dump, where a key
named like a secret is masked whole.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
# A name that carries a secret: one of these words, alone or as the last part of the name
# (``access_token``, ``sasl_password``, ``X-Amz-Signature``; not ``key_prefix``).
SECRET_NAME = re.compile(
    r"^(?:.*[_\-.])?(password|passwd|pass|pwd|token|secret|key|apikey|auth|credentials?|"
    r"signature|sig)$",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# A URL inside free text: up to whitespace or a quote/bracket that closes a repr.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
_QUERY_PARAM = re.compile(r"([?&;])([^=&;#\s]+)=([^&;#\s'\"]*)")


def _mask_param(m: re.Match[str]) -> str:
    sep, name, value = m.groups()
    return f"{sep}{name}={MASK}" if SECRET_NAME.search(name) and value else m.group(0)


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info and secret query values masked:
    ``rtsp://admin:p@ss/w@cam:554/s?token=x`` -> ``rtsp://admin:***@cam:554/s?token=***``.
    A URL without a password is returned as it is."""
    m = _SCHEME.match(url)
    if not m:
        return url
    scheme, rest = url[: m.end()], url[m.end() :]
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    head, tail = rest[:cut], rest[cut:]
    at = head.rfind("@")
    if at >= 0:
        userinfo, host = head[:at], head[at + 1 :]
        if ":" in userinfo:  # user:password (the user may be empty: rtsp://:pw@host)
            userinfo = f"{userinfo.split(':', 1)[0]}:{MASK}"
        head = f"{userinfo}@{host}"
    return scheme + head + _QUERY_PARAM.sub(_mask_param, tail)


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (``redact_url``)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


def redact_tree(node: Any, key: str = "") -> Any:
    """A JSON-like config dump with secrets masked: values of keys named like a secret
    (``password``, ``sasl_password``, ``token`` ...) whole, URLs by ``redact_url``."""
    if isinstance(node, dict):
        return {k: redact_tree(v, str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [redact_tree(v, key) for v in node]
    if isinstance(node, str):
        if key and SECRET_NAME.search(key) and node:
            return MASK
        return redact_text(node)
    return node


class RedactedLogRecord(logging.LogRecord):
    """A log record whose message has its URLs redacted, whoever logged it (a client
    library's error can quote the URL it was given)."""

    def getMessage(self) -> str:
        return redact_text(super().getMessage())


def redact_logs() -> None:
    """Make every log record of this process redact URLs (idempotent)."""
    logging.setLogRecordFactory(RedactedLogRecord)
