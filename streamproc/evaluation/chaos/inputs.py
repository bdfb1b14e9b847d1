"""The chaos suite's input: small synthetic cameras written to folders (the same frames
for every scenario) and, when none is given, a tiny model trained on them in seconds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2

from streamproc.config import StreamprocConfig, apply_overrides
from streamproc.errors import ArtifactError
from streamproc.model.artifact import load_artifact
from streamproc.sources.camera import SyntheticScene
from streamproc.training import train

FRAME_SIZE = (48, 64)  # (height, width): small frames keep a run to seconds on 2 cores
TINY_MODEL = {
    "data.preprocess.height": 32,
    "data.preprocess.width": 48,
    "data.window.length": 4,
    "data.window.stride": 2,
    "model.base_channels": 8,
    "model.latent_channels": 4,
    "model.attention_heads": 2,
    "training.epochs": 1,
    "training.batch_size": 8,
    "training.threads": 1,
    "scoring.patch": 8,
    "smoothing.window": 3,
    "smoothing.persistence_k": 2,
    "smoothing.persistence_n": 3,
}


def write_cameras(root: Path, cameras: int, frames: int) -> list[Path]:
    """ROOT/camI/NNNN.png for each camera (seed I of the synthetic scene); reused if there."""
    folders = []
    for i in range(cameras):
        d = root / f"cam{i}"
        if len(list(d.glob("*.png"))) != frames:
            d.mkdir(parents=True, exist_ok=True)
            scene = SyntheticScene(seed=100 + i, size=FRAME_SIZE)
            for t in range(frames):
                cv2.imwrite(str(d / f"{t:04d}.png"), scene.step()[0])
        folders.append(d)
    return folders


def tiny_artifact(work: Path, log: Callable[[str], None] = print, seed: int = 0) -> Path:
    """A tiny model trained for one epoch on synthetic normal footage (WORK/artifact;
    another ``seed``: WORK/artifact-SEED, another model of the same shape)."""
    out = work / ("artifact" if seed == 0 else f"artifact-{seed}")
    try:
        load_artifact(out)
        return out
    except ArtifactError:
        pass
    data = work / "train-data"
    for clip in range(3):
        d = data / "train" / f"{clip:02d}"
        d.mkdir(parents=True, exist_ok=True)
        scene = SyntheticScene(seed=clip, size=FRAME_SIZE)
        for t in range(60):
            cv2.imwrite(str(d / f"{t:04d}.png"), scene.step()[0])
    log(f"training a tiny model -> {out}")
    settings = TINY_MODEL if seed == 0 else {**TINY_MODEL, "training.seed": seed}
    train(apply_overrides(StreamprocConfig(), settings), data, out)
    return out


def write_videos(root: Path, cameras: int, frames: int, fps: float) -> list[Path]:
    """ROOT/camI-FRAMES-FPS.avi (MJPG, every frame a key frame) of the same synthetic scenes:
    long paced footage without tens of thousands of files; reused if there."""
    videos = []
    for i in range(cameras):
        path = root / f"cam{i}-{frames}f-{fps:.2f}fps.avi"
        if not path.exists():
            root.mkdir(parents=True, exist_ok=True)
            part = path.with_suffix(".part.avi")
            h, w = FRAME_SIZE
            out = cv2.VideoWriter(str(part), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h), False)
            scene = SyntheticScene(seed=100 + i, size=FRAME_SIZE)
            for _ in range(frames):
                out.write(scene.step()[0])
            out.release()
            part.rename(path)
        videos.append(path)
    return videos
