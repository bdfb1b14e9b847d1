"""What every ``python -m trainers.X`` entry point shares: the base config from a file,
inline JSON or ``--set`` overrides, the Ray options (connecting goes through
``streamproc.ray_cluster.ensure_ray``, as every streamproc process does), exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamproc.config import (
    StreamprocConfig,
    apply_overrides,
    config_from_dict,
    load_config,
    parse_override,
)
from streamproc.errors import ConfigError, DataError, StreamprocError
from streamproc.model.registry import get_entry
from streamproc.ray_cluster import ensure_ray

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("base config")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--config", help="YAML config file (as the job's machine sees it).")
    src.add_argument(
        "--config-json",
        help="The config inline as JSON; `streamproc tune` passes the client's file this way "
        "so the cluster needs no copy of it.",
    )
    g.add_argument("--model", default=None, help="Model name (default: the config's).")
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Dotted override, value parsed as YAML (repeatable): --set training.epochs=3.",
    )


def parse_sets(items: list[str]) -> dict[str, Any]:
    return dict(parse_override(item, "--set") for item in items)


def config_from_args(
    ns: argparse.Namespace, extra: dict[str, Any] | None = None
) -> StreamprocConfig:
    """Config file (or inline JSON, or defaults plus the model's recommended settings),
    then ``--model``, ``--set`` and ``extra`` (non-None values) on top."""
    if ns.config_json:
        cfg = config_from_dict(json.loads(ns.config_json), "--config-json")
    else:
        cfg = load_config(ns.config)
    over: dict[str, Any] = {}
    if ns.model:
        if ns.config is None and ns.config_json is None:
            over.update(get_entry(ns.model).recommended)
        over["model.name"] = ns.model
    over.update(parse_sets(ns.set))
    over.update({k: v for k, v in (extra or {}).items() if v is not None})
    try:
        return apply_overrides(cfg, over) if over else cfg
    except KeyError as err:
        raise ConfigError(f"--set: no config section {err}") from None


def existing(path: str, what: str = "--data") -> Path:
    """``path`` (user-expanded), failing before Ray starts when it does not exist here."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{what} {p}: does not exist on this machine")
    return p


def add_ray_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Ray")
    g.add_argument(
        "--ray-address", default=None, help="Ray to use (default: the job's, or a private local)."
    )
    g.add_argument(
        "--ray-token-file",
        default=None,
        help="The cluster's auth token (default: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, "
        "~/.ray/auth_token).",
    )


def connect_ray(ns: argparse.Namespace, num_cpus: int | None = None) -> None:
    """``streamproc.ray_cluster.ensure_ray`` with the ``add_ray_args`` options."""
    ensure_ray(ns.ray_address, num_cpus, ns.ray_token_file)


def main_guard(fn: Callable[[], int]) -> None:
    """Exit with ``fn``'s code; streamproc's own errors print one line and exit 2."""
    try:
        code = fn()
    except StreamprocError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        code = EXIT_BAD_INPUT
    sys.exit(code)
