"""Which network to build and its shape."""

from __future__ import annotations

from pydantic import Field

from streamproc.config.base import StrictModel


class ModelConfig(StrictModel):
    """Network hyper-parameters. Each model reads the fields that apply to it."""

    name: str = Field(
        "attention-ae", description="Registry name: attention-ae, conv3d-ae, convlstm-ae."
    )
    base_channels: int = Field(24, ge=4, le=256, description="Width of the first conv stage.")
    latent_channels: int = Field(
        16, ge=4, le=512, description="Channels of the bottleneck feature map."
    )
    attention_heads: int = Field(
        4, ge=1, le=16, description="Heads of the spatial and temporal attention."
    )
    multiscale_temporal: bool = Field(
        False,
        description=(
            "attention-ae: add temporal attention at strides 1/2/4 "
            "(seed 004's 8/16/32-frame spans)."
        ),
    )
    variational: bool = Field(
        False, description="attention-ae: variational bottleneck (enables the KL term)."
    )
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout inside the attention block.")
    predict_frames: int | None = Field(
        None,
        ge=0,
        le=32,
        description=(
            "attention-ae: hide this many frames at the end of each window from the encoder, "
            "so the decoder must predict them from the frames before (future-frame "
            "prediction through the attention bottleneck); the motion score is then motion "
            "the past did not foretell. None = data.window.stride, so the streaming "
            "protocol scores every frame after the first window by its prediction; "
            "0 = reconstruct the whole window."
        ),
    )
    predict_motion: bool = Field(
        True,
        description=(
            "attention-ae: the encoder sees the appearance channels only and the decoder "
            "predicts the motion channel too (appearance-motion correspondence); score "
            "with scoring.channels 'motion'. Needs data.preprocess.motion other than 'none'."
        ),
    )
