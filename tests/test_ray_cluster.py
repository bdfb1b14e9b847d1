"""The Ray token resolution and the never-join rule of streamproc/ray_cluster.py (no Ray
started here)."""

from pathlib import Path

import pytest

from streamproc import ray_cluster
from streamproc.errors import ConfigError
from streamproc.ray_cluster import auth_headers, cluster_token

AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in AUTH_VARS:
        # setenv first, so the undo removes what use_token() sets later (a bare delenv of
        # an unset variable records nothing, and the token mode leaked into later tests)
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_token_sources_in_ray_order(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cluster_token() is None and auth_headers(None) == {}
    default = clean_env / ".ray" / "auth_token"
    default.parent.mkdir()
    default.write_text("from-home\n")
    assert cluster_token() == "from-home"
    path = clean_env / "tok"
    path.write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(path))
    assert cluster_token() == "from-path"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert cluster_token() == "from-env"
    explicit = clean_env / "explicit"
    explicit.write_text("from-option")
    assert cluster_token(explicit) == "from-option"  # the option wins
    assert auth_headers("t") == {"Authorization": "Bearer t"}
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert cluster_token() is None


def test_unreadable_token_file_says_which(clean_env: Path) -> None:
    with pytest.raises(ConfigError, match=r"--ray-token-file .*cannot read"):
        cluster_token(clean_env / "missing")
    (clean_env / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        cluster_token(clean_env / "empty")


def test_use_token_turns_token_mode_on_only_when_given(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    refreshed: list[bool] = []
    monkeypatch.setattr(ray_cluster, "_refresh_ray_auth", lambda: refreshed.append(True))
    default = clean_env / ".ray" / "auth_token"
    default.parent.mkdir()
    default.write_text("home")
    assert not ray_cluster.use_token() and "RAY_AUTH_MODE" not in os.environ
    tok = clean_env / "tok"
    tok.write_text("t")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "stale")
    assert ray_cluster.use_token(tok)
    assert os.environ["RAY_AUTH_MODE"] == "token" and refreshed
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(tok) and "RAY_AUTH_TOKEN" not in os.environ


def test_ensure_ray_never_joins_a_stray_address(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    monkeypatch.delenv(ray_cluster.JOB_DRIVER_ENV, raising=False)
    ray_cluster.ensure_ray(None, num_cpus=1)
    assert calls[-1]["address"] == "local"  # a shell's RAY_ADDRESS is not joined
    monkeypatch.setenv(ray_cluster.JOB_DRIVER_ENV, "{}")
    monkeypatch.setattr(ray_cluster, "use_token", lambda token_file=None: False)
    ray_cluster.ensure_ray(None)
    assert calls[-1]["address"] == "10.0.0.1:6379"  # a Ray job's driver joins its cluster
    ray_cluster.ensure_ray("ray://head:10001")
    assert calls[-1]["address"] == "ray://head:10001"
