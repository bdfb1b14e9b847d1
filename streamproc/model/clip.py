"""Scoring a whole clip window by window, and turning window scores into frame scores
under the two protocols (streaming: first window that holds the frame; offline:
mean over every window that holds it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from streamproc.config.data import WindowConfig
from streamproc.errors import DataError
from streamproc.model.scoring import WindowScorer, WindowScores
from streamproc.windowing.windows import first_cover, window_starts


def stack_windows(frames: np.ndarray, starts: list[int], length: int) -> np.ndarray:
    """(N, C, H, W) frames -> (len(starts), C, T, H, W) windows."""
    return np.stack([frames[s : s + length] for s in starts]).transpose(0, 2, 1, 3, 4)


def iter_batches(
    frames: np.ndarray, starts: list[int], length: int, batch: int
) -> Iterator[tuple[list[int], np.ndarray]]:
    for i in range(0, len(starts), batch):
        chunk = starts[i : i + batch]
        yield chunk, stack_windows(frames, chunk, length)


@dataclass
class ClipScores:
    n_frames: int
    starts: list[int]
    length: int
    window_scores: np.ndarray  # (W, T) per-frame scores of each window
    window_mean_error: np.ndarray  # (W, T)
    window_cues: dict[str, np.ndarray] = field(default_factory=dict)  # cue -> (W, T), raw

    def _first(self, per_window: np.ndarray) -> np.ndarray:
        owner = first_cover(self.n_frames, self.starts, self.length)
        pos = np.arange(self.n_frames) - np.asarray(self.starts)[owner]
        return per_window[owner, pos]

    def streaming(self) -> np.ndarray:
        """Each frame scored by the first window (in arrival order) that holds it."""
        return self._first(self.window_scores)

    def streaming_cues(self) -> dict[str, np.ndarray]:
        """Each cue's raw pooled score per frame, assigned like ``streaming``."""
        return {c: self._first(v) for c, v in self.window_cues.items()}

    def offline(self) -> np.ndarray:
        """Each frame's mean score over all windows that hold it."""
        total = np.zeros(self.n_frames)
        count = np.zeros(self.n_frames)
        for s, row in zip(self.starts, self.window_scores, strict=True):
            total[s : s + self.length] += row
            count[s : s + self.length] += 1
        return total / np.maximum(count, 1)


def score_clip(
    scorer: WindowScorer, frames: np.ndarray, window: WindowConfig, batch: int, name: str = "clip"
) -> ClipScores:
    """Score every window of one preprocessed clip (N, C, H, W)."""
    n = frames.shape[0]
    starts = window_starts(n, window.length, window.stride)
    if not starts:
        raise DataError(
            f"clip {name!r} has {n} frames, fewer than one window of {window.length}; "
            "use a shorter data.window.length or a longer clip"
        )
    parts: list[WindowScores] = [
        scorer.score(x) for _, x in iter_batches(frames, starts, window.length, batch)
    ]
    return ClipScores(
        n_frames=n,
        starts=starts,
        length=window.length,
        window_scores=np.concatenate([p.frame_scores for p in parts]),
        window_mean_error=np.concatenate([p.mean_error for p in parts]),
        window_cues={c: np.concatenate([p.cues[c] for p in parts]) for c in parts[0].cues},
    )
