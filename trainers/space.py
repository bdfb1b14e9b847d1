"""The search space over the attention AE and its scoring, and how a sample becomes a
config.

Keys are dotted config paths, except two derived ones:

- ``data.window.stride_ratio``: stride = max(1, round(length * ratio)), so every
  sample is valid (stride <= length) and evolution can vary length and stride apart;
- ``training.loss.kl_weight`` > 0 also turns on ``model.variational`` (the KL term
  exists only with a variational bottleneck).

``SPACE`` is in priority order. Grid search is a full factorial over the two ``grid``
levels of the first ``floor(log2(trials))`` dimensions (2 trials: learning rate;
4: + latent width; 8: + window length; ...), other dimensions keep the base config's
values. The evolutionary search samples every dimension from ``domain``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray import tune

from streamproc.config import StreamprocConfig, apply_overrides
from streamproc.errors import ConfigError

STRIDE_RATIO = "data.window.stride_ratio"
KL_WEIGHT = "training.loss.kl_weight"


@dataclass(frozen=True)
class Dim:
    key: str
    grid: tuple[Any, Any]  # the two levels of the factorial grid
    choices: tuple[Any, ...] | None = None  # categorical domain
    bounds: tuple[float, float] | None = None  # continuous domain
    log: bool = False

    def domain(self) -> Any:
        """The Tune domain (OptunaSearch converts it to an Optuna distribution)."""
        if self.choices is not None:
            return tune.choice(list(self.choices))
        assert self.bounds is not None
        lo, hi = self.bounds
        return tune.loguniform(lo, hi) if self.log else tune.uniform(lo, hi)

    def snap(self, value: Any) -> Any:
        """The in-domain value nearest ``value`` (to seed a search with a base config)."""
        if self.choices is not None:
            if value in self.choices:
                return value
            return min(self.choices, key=lambda c: abs(float(c) - float(value)))
        assert self.bounds is not None
        return min(max(float(value), self.bounds[0]), self.bounds[1])


SPACE: tuple[Dim, ...] = (
    Dim("training.learning_rate", (1e-3, 3e-3), bounds=(2e-4, 5e-3), log=True),
    Dim("model.latent_channels", (8, 16), choices=(8, 16, 32)),
    Dim("data.window.length", (8, 16), choices=(4, 8, 16)),
    Dim("smoothing.window", (1, 9), choices=(1, 5, 9, 15)),
    Dim("training.loss.temporal_weight", (0.0, 0.1), bounds=(0.0, 0.3)),
    Dim("model.attention_heads", (2, 4), choices=(1, 2, 4)),
    Dim("training.batch_size", (16, 32), choices=(8, 16, 32)),
    Dim(KL_WEIGHT, (0.0, 1e-3), choices=(0.0, 1e-4, 1e-3)),
    Dim(STRIDE_RATIO, (0.5, 1.0), choices=(0.25, 0.5, 1.0)),
    Dim("scoring.threshold_k", (2.0, 3.0), bounds=(1.5, 4.0)),
)
DIMS = {d.key: d for d in SPACE}


def grid_dims(trials: int) -> tuple[Dim, ...]:
    """The dimensions a grid of at most ``trials`` points covers."""
    if trials < 2:
        raise ConfigError(f"a grid search needs --trials >= 2 (two levels), got {trials}")
    return SPACE[: min(len(SPACE), int(math.log2(trials)))]


def grid_space(trials: int) -> dict[str, Any]:
    """Tune ``param_space`` of the factorial grid (Tune takes the cartesian product)."""
    return {d.key: tune.grid_search(list(d.grid)) for d in grid_dims(trials)}


def evolutionary_space() -> dict[str, Any]:
    return {d.key: d.domain() for d in SPACE}


def base_point(cfg: StreamprocConfig) -> dict[str, Any]:
    """The base config as a point of the space (snapped into each domain)."""
    point: dict[str, Any] = {}
    for d in SPACE:
        if d.key == STRIDE_RATIO:
            value: Any = cfg.data.window.stride / cfg.data.window.length
        else:
            value = _get(cfg, d.key)
        point[d.key] = d.snap(value)
    return point


def _get(cfg: StreamprocConfig, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def apply_sample(cfg: StreamprocConfig, sample: dict[str, Any]) -> StreamprocConfig:
    """``cfg`` with a sample's values; derived keys are expanded, bad combinations are
    a ``ConfigError`` naming them."""
    over: dict[str, Any] = {}
    for key, value in sample.items():
        if key not in DIMS:
            raise ConfigError(f"unknown search dimension {key!r}; known: {', '.join(DIMS)}")
        if key != STRIDE_RATIO:
            over[key] = plain(value)
    length = int(over.get("data.window.length", cfg.data.window.length))
    if STRIDE_RATIO in sample:
        over["data.window.stride"] = max(1, round(length * float(sample[STRIDE_RATIO])))
    elif cfg.data.window.stride > length:
        over["data.window.stride"] = length
    if KL_WEIGHT in sample:
        over["model.variational"] = float(sample[KL_WEIGHT]) > 0
    out = apply_overrides(cfg, over)
    width = 2 * out.model.base_channels  # the attention block's embedding width
    if width % out.model.attention_heads:
        raise ConfigError(
            f"model.attention_heads={out.model.attention_heads} does not divide the attention "
            f"width 2 * model.base_channels = {width}"
        )
    return out


def plain(value: Any) -> Any:
    """numpy scalars (from samplers) as Python numbers, so pydantic and JSON take them."""
    item: Callable[[], Any] | None = getattr(value, "item", None)
    return item() if item is not None else value
