"""How frames become model input: preprocessing, windows and augmentation."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from streamproc.config.base import StrictModel

FlowMethod = Literal["farneback", "dis"]
FLOW_METHODS: tuple[str, ...] = get_args(FlowMethod)


class PreprocessConfig(StrictModel):
    """Per-frame preprocessing, identical at training, evaluation and serving time."""

    color: Literal["gray", "rgb"] = Field(
        "gray", description="Channel mode of the appearance input."
    )
    height: int = Field(96, ge=16, le=1024, description="Frame height after resize, pixels.")
    width: int = Field(144, ge=16, le=1024, description="Frame width after resize, pixels.")
    motion: Literal["none", "diff", "flow"] = Field(
        "flow",
        description=(
            "Extra motion channel(s): 'diff' = absolute difference to the previous frame, "
            "'flow' = Farneback optical flow magnitude, 'none' = appearance only."
        ),
    )
    motion_gain: float = Field(
        4.0,
        gt=0,
        description="Multiplier on the motion channel so small motions use the [0,1] range.",
    )
    flow_method: FlowMethod = Field(
        "farneback",
        description="'flow': the optical-flow algorithm; 'dis' = OpenCV's DIS (fast preset), "
        "'farneback' = Farneback. BENCHMARKS.md compares them (AUC and CPU ms per frame).",
    )
    flow_scale: float = Field(
        2.0,
        ge=1,
        le=4,
        description=(
            "'flow': compute optical flow at this multiple of height x width, then average it "
            "down; flow at the model's small size misses the speed of small objects."
        ),
    )

    @property
    def appearance_channels(self) -> int:
        return 1 if self.color == "gray" else 3

    @property
    def channels(self) -> int:
        return self.appearance_channels + (0 if self.motion == "none" else 1)


class WindowConfig(StrictModel):
    """Sliding windows of consecutive frames."""

    length: int = Field(8, ge=2, le=64, description="Frames per window (T).")
    stride: int = Field(
        4, ge=1, le=64, description="Frames between the starts of consecutive windows."
    )

    @model_validator(mode="after")
    def _stride_covers(self) -> WindowConfig:
        if self.stride > self.length:
            raise ValueError(
                f"window.stride ({self.stride}) is larger than window.length ({self.length}): "
                "frames between windows would never be scored; use stride <= length"
            )
        return self


class AugmentConfig(StrictModel):
    """Training-time augmentation (never applied at evaluation or serving)."""

    hflip: bool = Field(
        False,
        description=(
            "Random horizontal flip of whole windows "
            "(off by default: normality is location-specific)."
        ),
    )
    contrast: float = Field(
        0.1, ge=0, le=0.9, description="Max relative jitter of contrast and brightness."
    )


class DataConfig(StrictModel):
    """Everything about turning footage into windows."""

    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    window: WindowConfig = Field(default_factory=WindowConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
