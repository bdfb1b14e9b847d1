"""Figures and a review video for evaluation reports: ROC, score timelines, heatmaps.

Figures use matplotlib's object API with the Agg canvas rather than pyplot, so nothing
touches global backend state or opens a window (safe in workers and CI). Images are
RGB when they have three channels (matplotlib's convention); the video writer converts
to OpenCV's BGR itself. Every function creates missing parent folders and returns the
path it wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import matplotlib
import numpy as np
import numpy.typing as npt
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from streamproc.errors import DataError, StreamprocError

Array = npt.NDArray[np.generic]
Curve = tuple[npt.ArrayLike, npt.ArrayLike, float]


class VideoWriteError(StreamprocError):
    """OpenCV could not open a video writer for the requested file."""


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out, dpi=100)
    return out


def _runs(mask: npt.ArrayLike) -> list[tuple[int, int]]:
    """Half-open ``[start, end)`` frame ranges where ``mask`` is true."""
    edges = np.diff(np.concatenate(([0], np.asarray(mask, dtype=np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()
    return list(zip(starts, ends, strict=True))


def _aligned(
    clips: Mapping[str, npt.ArrayLike], name: str, shape: tuple[int, ...], what: str
) -> Array:
    got = np.asarray(clips[name]) if name in clips else None
    if got is None or got.shape != shape:
        found = f"no {what}" if got is None else f"{what} shape {got.shape}"
        raise DataError(f"clip {name!r}: expected {what} of shape {shape}, got {found}")
    return got


def _rgb(frame: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    img = np.asarray(frame)
    if img.dtype != np.uint8 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise DataError(f"expected a uint8 HxW or HxWx3 frame, got {img.dtype} shape {img.shape}")
    return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img


def _unit(
    error: npt.ArrayLike, size: tuple[int, int], lo: float, hi: float
) -> npt.NDArray[np.float32]:
    """Error map resized to ``size`` (w, h) and scaled to [0, 1] by ``lo``..``hi``."""
    err = np.asarray(error, dtype=np.float32)
    if err.ndim != 2:
        raise DataError(f"expected a 2-D error map, got shape {err.shape}")
    big = np.asarray(cv2.resize(err, size, interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    return np.clip((big - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(big)


def plot_roc(curves: Mapping[str, Curve], path: str | Path) -> Path:
    """One ROC line per entry of ``curves`` (name -> (fpr, tpr, auc)), with the chance line."""
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate")
    ax.set_title("Frame-level ROC")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_timelines(
    scores: Mapping[str, npt.ArrayLike],
    labels: Mapping[str, npt.ArrayLike],
    threshold: float | None,
    path: str | Path,
    decisions: Mapping[str, npt.ArrayLike] | None = None,
) -> Path:
    """One row per clip: score line, ground-truth anomalies shaded, threshold, detections."""
    if not scores:
        raise DataError("no clips to plot: scores is empty")
    fig = Figure(figsize=(11, 1.2 + 2.0 * len(scores)), layout="constrained")
    axes = fig.subplots(len(scores), 1, squeeze=False)[:, 0]
    for ax, (name, clip_scores) in zip(axes, scores.items(), strict=True):
        s = np.asarray(clip_scores, dtype=np.float64)
        y = _aligned(labels, name, s.shape, "labels")
        ax.plot(np.arange(s.size), s, lw=1, color="tab:blue")
        for a, b in _runs(y):
            ax.axvspan(a - 0.5, b - 0.5, color="tab:red", alpha=0.18, lw=0)
        if threshold is not None:
            ax.axhline(threshold, ls="--", lw=1, color="black")
        if decisions is not None:
            # A strip along the bottom keeps detections readable on top of the shading.
            for a, b in _runs(_aligned(decisions, name, s.shape, "decisions")):
                ax.axvspan(a - 0.5, b - 0.5, ymin=0, ymax=0.07, color="tab:orange", lw=0)
        ax.set_xlim(-0.5, max(s.size - 0.5, 0.5))
        ax.set_title(f"clip {name}", loc="left", fontsize=10)
        ax.set_ylabel("anomaly score")
    axes[-1].set_xlabel("frame")
    handles: list[Artist] = [Line2D([], [], color="tab:blue", label="score")]
    handles.append(Patch(color="tab:red", alpha=0.18, label="ground-truth anomaly"))
    if threshold is not None:
        handles.append(Line2D([], [], ls="--", color="black", label=f"threshold {threshold:.4g}"))
    if decisions is not None:
        handles.append(Patch(color="tab:orange", label="detected"))
    fig.legend(handles=handles, loc="outside upper center", ncols=len(handles))
    return _save(fig, path)


def plot_heatmaps(
    items: Sequence[tuple[str, npt.ArrayLike, npt.ArrayLike]], path: str | Path, alpha: float = 0.5
) -> Path:
    """A row per (caption, frame, error map): the frame, then the map as a jet overlay.

    Each map is scaled by its own min..max, so a panel shows where the error is, not
    how large it is compared with other panels.
    """
    if not items:
        raise DataError("no heatmaps to plot: items is empty")
    jet = matplotlib.colormaps["jet"]
    fig = Figure(figsize=(7, 3.2 * len(items)), layout="constrained")
    axes = fig.subplots(len(items), 2, squeeze=False)
    for (left, right), (caption, frame, error) in zip(axes, items, strict=True):
        rgb = _rgb(frame)
        h, w = rgb.shape[:2]
        err = np.asarray(error, dtype=np.float32)
        heat = jet(_unit(err, (w, h), float(err.min()), float(err.max())))[..., :3]
        blend = (1 - alpha) * rgb.astype(np.float32) / 255 + alpha * heat
        left.imshow(rgb)
        right.imshow(np.clip(blend, 0.0, 1.0))
        left.set_title(caption, fontsize=9)
        right.set_title(f"{caption}: reconstruction error", fontsize=9)
        left.axis("off")
        right.axis("off")
    return _save(fig, path)


def _open_writer(path: Path, size: tuple[int, int], fps: float) -> tuple[cv2.VideoWriter, Path]:
    codecs = {".mp4": "mp4v", ".avi": "MJPG"}
    if path.suffix.lower() not in codecs:
        raise VideoWriteError(f"video path must end in .mp4 or .avi, got {path.name!r}")
    # Some OpenCV builds lack an MP4 muxer; MJPG in AVI is built in everywhere.
    tries = [(path, codecs[path.suffix.lower()]), (path.with_suffix(".avi"), "MJPG")]
    for target, code in dict(tries).items():
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*code), fps, size)
        if writer.isOpened():
            return writer, target
        writer.release()
    raise VideoWriteError(
        f"OpenCV could not open a video writer for {path} (also tried .avi/MJPG); "
        "check the folder is writable and that this OpenCV build has video I/O"
    )


def _labelled(panel: Any, text: str) -> npt.NDArray[np.uint8]:
    out = np.ascontiguousarray(panel, dtype=np.uint8)
    scale, font = max(0.35, out.shape[1] / 450), cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    # A solid box behind the text keeps it readable on busy or bright footage.
    cv2.rectangle(out, (0, 0), (tw + 6, th + base + 4), (0, 0, 0), cv2.FILLED)
    cv2.putText(out, text, (3, th + 2), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_side_by_side_video(
    frames: Sequence[npt.ArrayLike],
    recons: Sequence[npt.ArrayLike],
    heatmaps: Sequence[npt.ArrayLike],
    path: str | Path,
    fps: float = 10,
) -> Path:
    """Input | reconstruction | error heatmap, one video frame per input frame.

    Returns the file actually written: an ``.mp4`` request falls back to ``.avi`` (MJPG)
    when this OpenCV build cannot write MP4.
    """
    if not len(frames) == len(recons) == len(heatmaps) or not frames or fps <= 0:
        raise DataError(
            "expected fps > 0 and equally many (at least one) frames, reconstructions and "
            f"heatmaps, got fps={fps} and {len(frames)}, {len(recons)}, {len(heatmaps)}"
        )
    h, w = _rgb(frames[0]).shape[:2]
    maps = [np.asarray(m, dtype=np.float32) for m in heatmaps]
    # One scale for the whole video, so a brighter heatmap means a larger error.
    lo, hi = min(float(m.min()) for m in maps), max(float(m.max()) for m in maps)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    writer, written = _open_writer(Path(path), (3 * w, h), float(fps))
    try:
        for frame, recon, err in zip(frames, recons, maps, strict=True):
            bgr = [
                cv2.cvtColor(cv2.resize(_rgb(i), (w, h)), cv2.COLOR_RGB2BGR) for i in (frame, recon)
            ]
            heat = cv2.applyColorMap(
                (_unit(err, (w, h), lo, hi) * 255).astype(np.uint8), cv2.COLORMAP_JET
            )
            names = ("input", "reconstruction", "error")
            writer.write(
                np.hstack([_labelled(p, t) for p, t in zip([*bgr, heat], names, strict=True)])
            )
    finally:
        writer.release()
    return written
