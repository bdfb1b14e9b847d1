"""Reaching Ray: the one ``ensure_ray`` and the cluster's authentication token.

Every process that needs Ray (``streamproc run``, the ``trainers`` entry points, Serve
tests) connects through ``ensure_ray``: to the address it is given, else, when it runs
as a Ray job's driver, to the cluster the Jobs API started it on, else to a private
local Ray of its own. It never calls a bare ``ray.init()``, which joins whatever cluster
was started last on this machine (or the one a stray ``RAY_ADDRESS`` names).

Token authentication (Ray 2.60): a cluster started with ``RAY_AUTH_MODE=token`` refuses
Jobs API / dashboard requests without ``Authorization: Bearer <token>`` (401 missing,
403 wrong) and gRPC connections (``ray.init(address=...)``) without the token. Ray
reads the token from ``RAY_AUTH_TOKEN``, else the file ``RAY_AUTH_TOKEN_PATH`` names,
else ``~/.ray/auth_token``, and only when this process's ``RAY_AUTH_MODE`` is ``token``.
``cluster_token`` resolves it the same way, with an explicit file (``--ray-token-file``)
first, so the Jobs API client gets the header whatever this process's mode is.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

from streamproc.errors import ConfigError, StreamprocError
from streamproc.verbosity import quiet_ray

log = logging.getLogger("streamproc.ray")

MODE_ENV, TOKEN_ENV, TOKEN_PATH_ENV = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"
JOB_DRIVER_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by the Jobs API in a job's driver
TOKEN_FIX = (
    f"give this machine the cluster's token: {TOKEN_ENV}=<token>, {TOKEN_PATH_ENV}=<file>, "
    "~/.ray/auth_token or --ray-token-file FILE (`ray get-auth-token` on the head prints "
    "it; on Kubernetes it is the chart's auth Secret)"
)


def default_token_path() -> Path:
    return Path.home() / ".ray" / "auth_token"


def _read_token(path: Path, what: str) -> str:
    try:
        token = path.expanduser().read_text().strip()
    except OSError as err:
        raise ConfigError(f"{what} {path}: cannot read the Ray auth token ({err})") from None
    if not token:
        raise ConfigError(f"{what} {path}: the Ray auth token file is empty")
    return token


def cluster_token(token_file: str | Path | None = None) -> str | None:
    """The token to present: ``token_file``, ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``,
    ``~/.ray/auth_token``, in that order (Ray's own order, explicit file first); None
    when there is none or ``RAY_AUTH_MODE=disabled`` and no file was given."""
    if token_file:
        return _read_token(Path(token_file), "--ray-token-file")
    if os.environ.get(MODE_ENV, "").lower() == "disabled":
        return None
    if token := os.environ.get(TOKEN_ENV, "").strip():
        return token
    if path := os.environ.get(TOKEN_PATH_ENV):
        return _read_token(Path(path), TOKEN_PATH_ENV)
    default = default_token_path()
    return _read_token(default, "token file") if default.is_file() else None


def configured_token() -> str | None:
    """The token this process was given on purpose (``RAY_AUTH_TOKEN`` or
    ``RAY_AUTH_TOKEN_PATH``, as the chart sets them), never the ``~/.ray`` default: what
    a Serve replica checks requests against."""
    if token := os.environ.get(TOKEN_ENV, "").strip():
        return token
    path = os.environ.get(TOKEN_PATH_ENV)
    return _read_token(Path(path), TOKEN_PATH_ENV) if path else None


def auth_headers(token: str | None) -> dict[str, str]:
    """The header the dashboard, the Jobs API and streamproc's Serve route check."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def use_token(token_file: str | Path | None = None) -> bool:
    """Make this process's Ray connections present the token (``ray.init`` over gRPC):
    turn ``RAY_AUTH_MODE=token`` on when a token was given explicitly (a file, or
    ``RAY_AUTH_TOKEN`` / ``RAY_AUTH_TOKEN_PATH``) and the mode is unset. The default
    ``~/.ray/auth_token`` alone does not: a local ``ray.init`` writes one, and it says
    nothing about the cluster being dialled. Returns whether token mode is on."""
    mode = os.environ.get(MODE_ENV, "").lower()
    if token_file:
        _read_token(Path(token_file), "--ray-token-file")  # fail here, not inside Ray
        os.environ[TOKEN_PATH_ENV] = str(Path(token_file).expanduser().resolve())
        os.environ.pop(TOKEN_ENV, None)  # Ray prefers the variable to the file
    explicit = bool(token_file or os.environ.get(TOKEN_ENV) or os.environ.get(TOKEN_PATH_ENV))
    if mode == "disabled" or not (explicit or mode == "token"):
        return False
    os.environ[MODE_ENV] = "token"
    _refresh_ray_auth()
    return True


def _refresh_ray_auth() -> None:
    """Ray caches its config (the mode) and the token once read: read them again."""
    try:
        raylet: Any = importlib.import_module("ray._raylet")
        raylet.Config.initialize("")
        raylet.AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError):  # a Ray without token auth: nothing to refresh
        log.debug("Ray has no token authentication to configure", exc_info=True)


def ensure_ray(
    address: str | None = None,
    num_cpus: int | None = None,
    token_file: str | Path | None = None,
) -> None:
    """Connect to ``address``; else, in a Ray job's driver, to the job's cluster
    (``RAY_ADDRESS``, set by the Jobs API); else start a private local Ray."""
    import ray

    if ray.is_initialized():
        return
    level = quiet_ray()
    token_path = default_token_path()
    had_token = token_path.is_file()
    target = address or (os.environ.get("RAY_ADDRESS") if JOB_DRIVER_ENV in os.environ else None)
    try:
        if target:
            use_token(token_file)
            ray.init(address=target, log_to_driver=False, logging_level=level)
        else:
            # address="local": always a fresh instance of our own, never a cluster some
            # other process started on this machine (Ray would otherwise join it).
            # worker_niceness 0: Ray runs its workers at nice 15 by default, so on one
            # machine the scoring replica (the pipeline's bottleneck) would yield the CPU
            # to this process's camera and worker threads.
            ray.init(
                address="local",
                num_cpus=num_cpus or os.cpu_count(),
                include_dashboard=False,
                log_to_driver=False,
                logging_level=level,
                _system_config={"worker_niceness": 0},
            )
            if not had_token and token_path.is_file():
                # Ray's own two lines about it are hidden (streamproc.verbosity).
                log.warning(
                    "this machine's local Ray uses token authentication; its new token is "
                    "in %s. Clients of this Ray (its dashboard, `ray job submit`) need it.",
                    token_path,
                )
    except ConnectionError as err:
        raise StreamprocError(
            f"cannot reach the Ray cluster at {target!r}: {err}; check serving.ray_address "
            "(or --ray-address) and that `ray status` works there"
        ) from None
    except Exception as err:
        if type(err).__name__ != "AuthenticationError":
            raise
        raise StreamprocError(
            f"the Ray cluster at {target!r} refused this process's token "
            f"({str(err).splitlines()[0]}); {TOKEN_FIX}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """``python -m streamproc.ray_cluster [ADDRESS]``: connect as streamproc does and
    print the cluster's resources (a Ray job with no address joins its own cluster)."""
    import json
    import sys

    import ray

    args = sys.argv[1:] if argv is None else argv
    try:
        ensure_ray(args[0] if args else None, num_cpus=1)
    except StreamprocError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    print(json.dumps({"resources": ray.cluster_resources()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
