"""Decoding frames from a frame folder or a video file, with errors that name the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from streamproc.errors import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".webm"})


def list_frame_files(folder: Path) -> list[Path]:
    """Image files of a folder in natural order (001.jpg < 002.jpg < 010.jpg)."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: (len(p.stem), p.stem))


def read_image(path: Path) -> np.ndarray:
    """One image as uint8 BGR (H, W, 3); a corrupt or unreadable file is a DataError."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(
            f"{path}: cannot decode this image (corrupt, truncated or not an image); "
            "replace or delete the file"
        )
    return img


def iter_video(path: Path) -> Iterator[np.ndarray]:
    """Frames of a video file as uint8 BGR arrays."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(
            f"{path}: no OpenCV backend can open this video; check the file is a complete "
            "video (mp4, avi, ...) or convert it with ffmpeg"
        )
    count = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            count += 1
            yield frame
    finally:
        cap.release()
    if count == 0:
        raise DataError(f"{path}: the video opened but holds no decodable frame")


def read_frames(source: Path) -> Iterator[np.ndarray]:
    """Frames of one clip: ``source`` is a folder of images or a video file."""
    if source.is_dir():
        files = list_frame_files(source)
        if not files:
            raise DataError(
                f"{source}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder"
            )
        for f in files:
            yield read_image(f)
    elif source.suffix.lower() in VIDEO_SUFFIXES:
        yield from iter_video(source)
    elif source.exists():
        raise DataError(
            f"{source}: not a frame folder or a video file (expected a folder of images or one of "
            f"{', '.join(sorted(VIDEO_SUFFIXES))})"
        )
    else:
        raise DataError(f"{source}: does not exist")


def count_frames(source: Path) -> int:
    """Frame count without decoding a folder; a video is counted by decoding it."""
    if source.is_dir():
        return len(list_frame_files(source))
    return sum(1 for _ in read_frames(source))
