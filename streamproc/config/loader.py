"""Reading a config file into the tree, with errors that name the offending key."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from streamproc.config.root import StreamprocConfig
from streamproc.errors import ConfigError


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} invalid setting(s)"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key; check its spelling against `streamproc config show`"
        got = e.get("input")
        got_s = "" if e["type"] == "extra_forbidden" or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {key}: {msg}{got_s}")
    return "\n".join(lines)


def config_from_dict(data: dict[str, Any], source: str = "config") -> StreamprocConfig:
    try:
        return StreamprocConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate_env(node: Any, source: str, key: str = "") -> Any:
    """Replace ``${NAME}`` in string values with environment variables (secrets from a
    Kubernetes Secret, say); ``$${`` stands for a literal ``${``. An unset variable is an
    error naming the key, never a silent empty string."""
    if isinstance(node, dict):
        return {
            k: interpolate_env(v, source, f"{key}.{k}" if key else str(k)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [interpolate_env(v, source, f"{key}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(
                f"{source}: {key} refers to ${{{name}}}, but the environment variable {name} "
                "is not set; set it (e.g. from a Secret) or write the value in the file"
            )
        return os.environ[name]

    return ENV_REF.sub(sub, node)


def load_config(path: str | Path | None) -> StreamprocConfig:
    """Load a YAML or JSON config file; ``None`` gives the defaults."""
    if path is None:
        return StreamprocConfig()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist; pass an existing YAML file")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{p}: expected a mapping of sections at the top level, got {type(data).__name__}"
        )
    return config_from_dict(interpolate_env(data, str(p)), str(p))


def apply_overrides(cfg: StreamprocConfig, overrides: dict[str, Any]) -> StreamprocConfig:
    """Return a copy of ``cfg`` with dotted-key overrides (``training.epochs``) applied.
    Only what was set before or is overridden now counts as set (``model_fields_set``),
    so a section the user never wrote can still defer to an artifact's own."""
    data = cfg.model_dump(exclude_unset=True)
    for dotted, value in overrides.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return config_from_dict(data, "overrides")
