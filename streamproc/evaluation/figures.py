"""The pictures of an evaluation: ROC, timelines, heatmap overlays, a review video."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamproc.evaluation.metrics import micro_auc, roc_points
from streamproc.evaluation.plots import (
    plot_heatmaps,
    plot_roc,
    plot_timelines,
    write_side_by_side_video,
)
from streamproc.evaluation.protocols import ProtocolResult
from streamproc.evaluation.runner import ScoredDataset
from streamproc.model.artifact import Artifact
from streamproc.model.clip import stack_windows
from streamproc.sources.dataset import Clip
from streamproc.sources.frames import read_frames
from streamproc.windowing.preprocess import preprocess_clip
from streamproc.windowing.windows import first_cover, window_starts


def _gray_u8(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else frame.mean(axis=2).astype(np.uint8)


def clip_maps(
    art: Artifact, clip: Clip, batch: int
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Original frames, per-frame error maps (N, H, W) and appearance reconstructions
    (N, H, W) of one clip, each frame taken from the first window holding it."""
    originals = list(read_frames(clip.path))
    frames = preprocess_clip(originals, art.config.data.preprocess)
    w = art.config.data.window
    starts = window_starts(len(frames), w.length, w.stride)
    scorer = art.scorer()
    maps, recons = [], []
    for i in range(0, len(starts), batch):
        s = scorer.score(stack_windows(frames, starts[i : i + batch], w.length), True, True)
        assert s.error_maps is not None and s.recon is not None
        maps.append(s.error_maps)
        recons.append(s.recon[:, 0])  # appearance channel: (B, T, H, W)
    all_maps, all_recon = np.concatenate(maps), np.concatenate(recons)
    owner = first_cover(len(frames), starts, w.length)
    pos = np.arange(len(frames)) - np.asarray(starts)[owner]
    return originals, all_maps[owner, pos], all_recon[owner, pos]


def draw_plots(
    art: Artifact,
    scored: ScoredDataset,
    result: ProtocolResult,
    out: Path,
    heatmaps: int = 6,
    video_clip: str | None = None,
    batch: int = 16,
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    labels = scored.labels
    written = [
        plot_roc(
            {
                result.protocol: (
                    *roc_points(result.scores, labels),
                    micro_auc(result.scores, labels),
                )
            },
            out / "roc.png",
        ),
        plot_timelines(
            result.scores,
            labels,
            None if np.isnan(result.threshold) else result.threshold,
            out / "timelines.png",
            result.decisions,
        ),
    ]
    by_name = {c.name: c for c in scored.clips}
    anomalous = [c for c in scored.clips if labels[c.name].any()]
    if heatmaps > 0 and anomalous:
        items = []
        for clip in anomalous[:heatmaps]:
            originals, maps, _ = clip_maps(art, clip, batch)
            idx = np.flatnonzero(labels[clip.name])
            # The most anomalous-looking labelled frame of the clip.
            f = int(idx[np.argmax(result.scores[clip.name][idx])])
            items.append((f"clip {clip.name} frame {f}", _gray_u8(originals[f]), maps[f]))
        written.append(plot_heatmaps(items, out / "heatmaps.png"))
    if anomalous or video_clip:
        clip = by_name[video_clip] if video_clip else anomalous[0]
        originals, maps, recon = clip_maps(art, clip, batch)
        recon_u8 = [(np.clip(r, 0, 1) * 255).astype(np.uint8) for r in recon]
        written.append(
            write_side_by_side_video(
                [_gray_u8(f) for f in originals],
                recon_u8,
                list(maps),
                out / f"clip_{clip.name}.mp4",
            )
        )
    return written
