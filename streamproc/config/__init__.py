"""One pydantic tree for all settings; one file per section."""

from streamproc.config.loader import (
    apply_overrides,
    config_from_dict,
    load_config,
    parse_override,
)
from streamproc.config.root import StreamprocConfig

__all__ = [
    "StreamprocConfig",
    "apply_overrides",
    "config_from_dict",
    "load_config",
    "parse_override",
]
