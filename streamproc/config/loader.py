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
from streamproc.redaction import SECRET_NAME, redact_text


def _shown(key: str, got: Any, from_env: frozenset[str]) -> str:
    """The rejected value as an error may show it: never a secret."""
    if isinstance(got, str) and any(v and v in got for v in from_env):
        return " (got a value from an environment variable, not shown)"
    if isinstance(got, str) and SECRET_NAME.search(key.rpartition(".")[2]):
        return " (got a value that is not shown)"
    return f" (got {redact_text(repr(got))})"


def format_validation_error(
    err: ValidationError, source: str, from_env: frozenset[str] = frozenset()
) -> str:
    """One line per invalid setting, naming its key; values that came from ``${ENV}``,
    of secret-named keys, or URL passwords are not echoed."""
    lines = [f"{source}: {err.error_count()} invalid setting(s)"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = redact_text(e["msg"])
        if e["type"] == "extra_forbidden":
            msg = "unknown key; check its spelling against `streamproc config show`"
        got = e.get("input")
        skip = e["type"] == "extra_forbidden" or isinstance(got, dict)
        got_s = "" if skip else _shown(key, got, from_env)
        lines.append(f"  {key}: {msg}{got_s}")
    return "\n".join(lines)


def config_from_dict(
    data: dict[str, Any], source: str = "config", from_env: frozenset[str] = frozenset()
) -> StreamprocConfig:
    try:
        return StreamprocConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source, from_env)) from None


ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate_env(node: Any, source: str, key: str = "", used: set[str] | None = None) -> Any:
    """Replace ``${NAME}`` in string values with environment variables (secrets from a
    Kubernetes Secret, say); ``$${`` stands for a literal ``${``. An unset variable is an
    error naming the key, never a silent empty string. The values substituted are added
    to ``used``, so an error about the setting does not print them."""
    if isinstance(node, dict):
        return {
            k: interpolate_env(v, source, f"{key}.{k}" if key else str(k), used)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [interpolate_env(v, source, f"{key}[{i}]", used) for i, v in enumerate(node)]
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
        if used is not None:
            used.add(os.environ[name])
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
    used: set[str] = set()
    data = interpolate_env(data, str(p), used=used)
    return config_from_dict(data, str(p), frozenset(used))


def apply_overrides(cfg: StreamprocConfig, overrides: dict[str, Any]) -> StreamprocConfig:
    """A copy of ``cfg`` with dotted-path overrides (``training.epochs``) applied and the
    whole tree validated again: a wrong path or value is a ConfigError naming it."""
    data = cfg.model_dump()  # python mode: secrets stay secrets, type tags stay
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"{dotted!r} is not a config path (e.g. training.epochs)")
            node = node[part]
        if leaf not in node:
            raise ConfigError(f"{dotted!r} is not a config path (e.g. training.epochs)")
        node[leaf] = value
    return config_from_dict(data, "overrides")


def parse_override(item: str, flag: str) -> tuple[str, Any]:
    """``path=value`` (a dotted config path, a YAML value) from a command-line ``flag``."""
    path, eq, value = item.partition("=")
    if not eq or not path.strip():
        raise ConfigError(f"{flag} {item!r} is not path=value (e.g. serving.frame_cache_frames=0)")
    try:
        return path.strip(), yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise ConfigError(f"{flag} {item!r}: the value is not valid YAML: {err}") from None
