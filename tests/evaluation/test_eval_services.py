"""The benchmarks' pointer to the real services names the fix when they are not set."""

from __future__ import annotations

import pytest

from streamproc.errors import ConfigError
from streamproc.evaluation.services import services_env


def test_unset_services_say_how_to_start_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("STREAMPROC_REDIS_URL", "redis://127.0.0.1:2/0")
    assert services_env("x") == ("127.0.0.1:1", "redis://127.0.0.1:2/0")
    monkeypatch.delenv("STREAMPROC_REDIS_URL")
    with pytest.raises(ConfigError, match=r"--transport kafka needs .*services.sh start"):
        services_env("--transport kafka")
