"""What `streamproc run` needs when the user brings nothing: synthetic cameras and, when
no artifact is given, a small model trained first on synthetic normal footage."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import cv2

from streamproc.config import StreamprocConfig, apply_overrides
from streamproc.config.cameras import CameraConfig
from streamproc.config.root import MODEL_SECTIONS
from streamproc.errors import ArtifactError
from streamproc.model.artifact import load_artifact
from streamproc.sources.camera import SyntheticScene
from streamproc.training import train
from streamproc.training.loop import StepHook

DEMO_MODEL = {
    "data.preprocess.height": 64,
    "data.preprocess.width": 96,
    "model.base_channels": 16,
    "training.epochs": 4,
    "scoring.patch": 8,
}


def synthetic_cameras(n: int, fps: float = 10.0) -> list[CameraConfig]:
    return [
        CameraConfig(id=f"synthetic-{i}", source=f"synthetic:{i}", source_fps=fps) for i in range(n)
    ]


def write_normal_footage(root: Path, frames: int = 1500, seed: int = 1000, length: int = 8) -> Path:
    """DIR/train/<clip>/NNN.png from a synthetic scene, keeping only runs of frames with
    no anomaly in view (each run becomes a clip, so windows never straddle one)."""
    scene = SyntheticScene(seed=seed)
    clip, run = 0, []
    for _ in range(frames):
        img, label = scene.step()
        if label == 0:
            run.append(img)
            continue
        clip = _flush(root, clip, run, length)
        run = []
    _flush(root, clip, run, length)
    return root


def _flush(root: Path, clip: int, run: list, length: int) -> int:
    if len(run) < 4 * length:
        return clip
    d = root / "train" / f"{clip:03d}"
    d.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(run):
        cv2.imwrite(str(d / f"{i:04d}.png"), img)
    return clip + 1


Hooks = tuple[StepHook | None, Callable[[str], None] | None]


def demo_artifact(
    cache: Path,
    log: Callable[[str], None] = print,
    progress: Callable[[], AbstractContextManager[Hooks]] | None = None,
) -> Path:
    """A small model trained on synthetic normal footage, cached by its settings (all of
    them, so a change of a default trains a new one). ``progress`` is entered only when
    it trains, and gives the ``on_step`` and ``on_clip`` hooks of the training."""
    cfg = apply_overrides(StreamprocConfig(), DEMO_MODEL)
    settings = cfg.model_dump_json(include=MODEL_SECTIONS)
    key = hashlib.sha256(settings.encode()).hexdigest()[:12]
    out = cache / f"demo-{key}"
    try:
        load_artifact(out)
        return out
    except ArtifactError:
        pass
    data = cache / f"demo-data-{key}"
    if not (data / "train").is_dir():
        log(f"writing synthetic normal footage to {data}")
        write_normal_footage(data)
    log(f"training a small demo model ({cfg.training.epochs} epochs, once) -> {out}")
    with progress() if progress is not None else nullcontext((None, None)) as (on_step, on_clip):
        train(cfg, data, out, on_step, on_clip)
    return out
