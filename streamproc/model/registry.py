"""Models by name. An unknown name fails with the list of valid ones.

The networks (torch) are imported by their builders, not here: the CLI reads this table
for names, summaries and recommended settings, and must start without loading torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamproc.config.data import DataConfig
from streamproc.config.model import ModelConfig
from streamproc.errors import ConfigError

if TYPE_CHECKING:
    from streamproc.model.base import AnomalyModel


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[[ModelConfig, DataConfig], AnomalyModel]
    summary: str
    # Dotted config overrides that reproduce the seed's own setting; used when the
    # user gives no config file (e.g. conv3d-ae's 10 x 64 x 64 windows).
    recommended: dict[str, Any] = field(default_factory=dict)


def _attention(m: ModelConfig, d: DataConfig) -> AnomalyModel:
    from streamproc.model.attention_ae import AttentionAE, AttentionAEConfig

    p = d.preprocess
    return AttentionAE(
        AttentionAEConfig(
            channels=p.channels,
            frames=d.window.length,
            height=p.height,
            width=p.width,
            base=m.base_channels,
            latent=m.latent_channels,
            heads=m.attention_heads,
            dropout=m.dropout,
            multiscale=m.multiscale_temporal,
            variational=m.variational,
            predict_motion=m.predict_motion,
            predict_frames=d.window.stride if m.predict_frames is None else m.predict_frames,
            appearance_channels=p.appearance_channels,
        )
    )


def _conv3d(m: ModelConfig, d: DataConfig) -> AnomalyModel:
    from streamproc.model.conv3d_ae import Conv3dAE, Conv3dAEConfig

    return Conv3dAE(Conv3dAEConfig(channels=d.preprocess.channels, base=2 * m.base_channels))


def _convlstm(m: ModelConfig, d: DataConfig) -> AnomalyModel:
    from streamproc.model.convlstm_ae import ConvLSTMAE, ConvLSTMAEConfig

    return ConvLSTMAE(
        ConvLSTMAEConfig(
            channels=d.preprocess.channels, base=m.base_channels, hidden=m.latent_channels
        )
    )


# The plain reconstructors score every channel's squared error on frame differences (their
# seeds' setting); attention-ae's defaults (flow, motion prediction, excess) do not apply.
RECONSTRUCTOR = {
    "data.preprocess.motion": "diff",
    "scoring.channels": "all",
    "scoring.fusion": "none",
    "scoring.residual": "squared",
    "scoring.patch": 12,
}

MODELS: dict[str, ModelEntry] = {
    "attention-ae": ModelEntry(
        _attention, "conv encoder + space/time self-attention + decoder (seeds 000, 004)"
    ),
    "conv3d-ae": ModelEntry(
        _conv3d,
        "Conv3d 64/128, stride (1,2,2), mirrored transposed convs (seed 003)",
        {
            **RECONSTRUCTOR,
            "data.preprocess.height": 64,
            "data.preprocess.width": 64,
            "data.window.length": 10,
            "data.window.stride": 5,
        },
    ),
    "convlstm-ae": ModelEntry(
        _convlstm,
        "conv encoder, ConvLSTM temporal encoder/decoder, deconv decoder (seed 002)",
        {**RECONSTRUCTOR, "data.window.length": 10, "data.window.stride": 5},
    ),
}


def get_entry(name: str) -> ModelEntry:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}"
        ) from None


def build_model(model: ModelConfig, data: DataConfig) -> AnomalyModel:
    return get_entry(model.name).build(model, data)
