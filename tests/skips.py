"""The skips CI allows. Under CI (``CI`` set; .ci/run sets it) every other skipped test
fails: a skip there stands for a missing tool, service or data set, which CI must have.

Each entry: a regular expression searched in the skip's reason, and why CI may skip it.
"""

from __future__ import annotations

import re

ALLOWED_UNDER_CI: list[tuple[str, str]] = [
    (r"\bno (CUDA|GPU)\b|CUDA is not available", "CI machines have no GPU"),
    (r"switched off by STREAMPROC_CLUSTER_TEST=0", "an explicit opt-out by whoever runs CI"),
]


def allowed(reason: str) -> str | None:
    """Why CI may skip a test skipped for ``reason``; None when it may not."""
    for pattern, why in ALLOWED_UNDER_CI:
        if re.search(pattern, reason):
            return why
    return None
