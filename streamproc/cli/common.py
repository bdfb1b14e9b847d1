"""What every command shares: the console, error reporting, config loading."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from streamproc.config import StreamprocConfig, apply_overrides, load_config
from streamproc.errors import StreamprocError
from streamproc.model.registry import get_entry
from streamproc.redaction import redact_text
from streamproc.verbosity import LOG_LEVEL_ENV, quiet_ray

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def service_logging() -> None:
    """Log lines of a long-running role (ingest, worker) to stderr: streamproc's own at
    INFO (or $STREAMPROC_LOG_LEVEL), the libraries' (kafka-python) at WARNING, Ray's and
    Serve's at ERROR unless --verbose or STREAMPROC_LOG_LEVEL=DEBUG asks for more."""
    level = os.environ.get(LOG_LEVEL_ENV, "INFO").upper()
    if level not in logging.getLevelNamesMapping():
        raise StreamprocError(
            f"{LOG_LEVEL_ENV}={level!r} is not a log level; use DEBUG, INFO, WARNING or ERROR"
        )
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    quiet_ray()
    logging.getLogger("streamproc").setLevel(level)


def friendly_errors(fn: F) -> F:
    """Turn streamproc's own errors into a clear message and exit code 2, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StreamprocError as err:
            message = redact_text(str(err))
            console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def resolve_config(
    config: Path | None, model: str | None = None, overrides: dict[str, Any] | None = None
) -> StreamprocConfig:
    """The config file (or defaults), with the model's recommended settings when no file
    is given, then explicit command-line overrides on top."""
    cfg = load_config(config)
    extra: dict[str, Any] = {}
    if model is not None:
        entry = get_entry(model)  # fails with the list of valid names
        if config is None:
            extra.update(entry.recommended)
        extra["model.name"] = model
    extra.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return apply_overrides(cfg, extra) if extra else cfg
