"""Datasets laid out like UCSD Ped2, and unlabelled footage of one camera.

Layout::

    DIR/train/<clip>/*.jpg   or DIR/train/<clip>.mp4   normal footage only
    DIR/test/<clip>/*.jpg    or DIR/test/<clip>.mp4    footage to evaluate
    DIR/test_labels.json     {"<clip>": [0 or 1 per frame, in order]}

A ``--data`` path without ``train/`` that is itself a frame folder, a folder of
videos or one video is taken as one camera's unlabelled normal footage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streamproc.errors import DataError
from streamproc.sources.frames import (
    VIDEO_SUFFIXES,
    count_frames,
    list_frame_files,
)


@dataclass(frozen=True)
class Clip:
    """One continuous piece of footage: a frame folder or a video file."""

    name: str
    path: Path
    labels: np.ndarray | None = field(default=None, compare=False)


def find_clips(folder: Path) -> list[Clip]:
    """Clips directly under ``folder``: sub-folders of images and video files."""
    if not folder.is_dir():
        raise DataError(f"{folder}: expected a folder of clips, but it does not exist")
    clips: list[Clip] = []
    for p in sorted(folder.iterdir()):
        if p.is_dir() and list_frame_files(p):
            clips.append(Clip(p.name, p))
        elif p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            clips.append(Clip(p.stem, p))
    if not clips and list_frame_files(folder):
        clips.append(Clip(folder.name, folder))
    if not clips:
        raise DataError(
            f"{folder}: found no clips; expected sub-folders of images (clip/000.jpg) "
            "or video files (clip.mp4)"
        )
    return clips


def load_labels(path: Path) -> dict[str, np.ndarray]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: label file not found") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected {{clip: [0/1 per frame]}}, got {type(raw).__name__}")
    out: dict[str, np.ndarray] = {}
    for name, seq in raw.items():
        arr = np.asarray(seq)
        if arr.ndim != 1 or not np.isin(arr, (0, 1)).all():
            raise DataError(f"{path}: labels of clip {name!r} must be a flat list of 0 and 1")
        out[str(name)] = arr.astype(np.int8)
    return out


def open_split(root: Path, split: str, require_labels: bool = False) -> list[Clip]:
    """Clips of ``root/split``; for ``test`` the labels are attached and checked."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: data path does not exist")
    split_dir = root / split
    if not split_dir.is_dir():
        if split == "train" and (root.is_dir() or root.suffix.lower() in VIDEO_SUFFIXES):
            # One camera's own footage, no train/test layout: all of it is normal.
            return find_clips(root) if root.is_dir() else [Clip(root.stem, root)]
        raise DataError(
            f"{root}: no '{split}/' folder; expected {root}/{split}/<clip>/*.jpg "
            f"(or {root}/{split}/<clip>.mp4)"
        )
    clips = find_clips(split_dir)
    label_file = root / f"{split}_labels.json"
    if not label_file.exists():
        if require_labels:
            raise DataError(
                f"{label_file}: missing; evaluation needs {{clip: [0/1 per frame]}} for {split}/"
            )
        return clips
    labels = load_labels(label_file)
    labelled: list[Clip] = []
    for clip in clips:
        if clip.name not in labels:
            raise DataError(f"{label_file}: has no labels for clip {clip.name!r} ({clip.path})")
        n = count_frames(clip.path)
        if n != len(labels[clip.name]):
            raise DataError(
                f"{label_file}: clip {clip.name!r} has {len(labels[clip.name])} labels but "
                f"{clip.path} has {n} frames; they must match one label per frame"
            )
        labelled.append(Clip(clip.name, clip.path, labels[clip.name]))
    extra = sorted(set(labels) - {c.name for c in clips})
    if extra:
        raise DataError(f"{label_file}: labels for clips that are not in {split_dir}: {extra}")
    return labelled
