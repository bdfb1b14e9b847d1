"""How much the processes say: streamproc's own log level, and whether the libraries'
(Ray, Serve, kafka-python) INFO and WARNING lines are shown.

Ray and Serve print a dozen lines at every start (token set-up, "Started a local Ray
instance", Serve's router and app lines) that need nothing from the user. They are
hidden unless ``--verbose`` (``STREAMPROC_VERBOSE=1``, inherited by child processes) or
``STREAMPROC_LOG_LEVEL=DEBUG`` asks for them; their errors always show.
"""

from __future__ import annotations

import logging
import os

LOG_LEVEL_ENV = "STREAMPROC_LOG_LEVEL"
VERBOSE_ENV = "STREAMPROC_VERBOSE"
RAY_LOGGERS = ("ray", "ray.serve", "ray.train", "ray.tune", "ray.data")


def verbose() -> bool:
    """True when the user asked to see the libraries' own lines."""
    if os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0", "false", "no"):
        return True
    return os.environ.get(LOG_LEVEL_ENV, "").strip().upper() == "DEBUG"


def library_level() -> int:
    """The level of the libraries' loggers: INFO when verbose, else ERROR."""
    return logging.INFO if verbose() else logging.ERROR


def quiet_ray() -> int:
    """Set Ray's and Serve's loggers in this process to ``library_level()`` and return it.
    Serve sets its logger's level when ``ray.serve`` is imported, so a process calls this
    again after that import (``serving.launch`` and ``serving.client`` do)."""
    level = library_level()
    for name in RAY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    return level
