"""What a search trains, calibrates, selects and reports on, loaded once per search.

Four parts, never overlapping:

- ``train``: normal clips the models are fitted on (``DIR/train`` minus the hold-out);
- ``calibration``: held-out normal clips (``training.holdout_fraction`` of ``DIR/train``)
  the threshold statistics come from, exactly as in ``streamproc train``;
- ``validation``: labelled clips the objective is computed on;
- ``test``: labelled clips reported for the best trial only, never seen by a trial.

With labels (``DIR/test_labels.json``) validation and test split ``DIR/test`` by clip:
sorted clip names, every ``round(1 / val_fraction)``-th clip starting with the first is
validation. For UCSD Ped2 (12 test clips, fraction 0.25) that is clips 01, 05 and 09
(450 frames, 82% anomalous, like the whole set) and test is the other nine (1560 frames).

Without labels (one camera's own footage) validation is *pseudo-labelled*: the
calibration clips with a synthetic anomaly (a large dark square crossing the frame
fast, in the middle third of each clip) pasted into the raw frames before
preprocessing; test is empty. See ``objective.py`` for how each is scored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from streamproc.config.data import DataConfig
from streamproc.errors import DataError
from streamproc.sources.dataset import open_split
from streamproc.sources.frames import read_frames
from streamproc.training.data import LoadedClip, load_clips, load_training_data
from streamproc.windowing.preprocess import preprocess_clip

ObjectiveKind = Literal["auc", "label-free"]
HOLDOUT_SUFFIX = "-holdout"  # streamproc.training.data names a time-split hold-out so


@dataclass
class SearchData:
    root: str
    objective: ObjectiveKind
    train: list[LoadedClip]
    calibration: list[LoadedClip]
    validation: list[LoadedClip]
    test: list[LoadedClip]

    def split(self) -> dict[str, list[str]]:
        """Clip names of each part, for reports."""
        return {
            "train": [c.name for c in self.train],
            "calibration": [c.name for c in self.calibration],
            "validation": [c.name for c in self.validation],
            "test": [c.name for c in self.test],
        }

    def without_test(self) -> SearchData:
        """What trials get: the test clips stay in the driver."""
        return dataclasses.replace(self, test=[])


def has_labels(root: Path) -> bool:
    return (root / "test").is_dir() and (root / "test_labels.json").is_file()


def validation_split(
    names: list[str], fraction: float = 0.25, chosen: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """(validation, test) clip names: ``chosen``, else every ``round(1 / fraction)``-th
    clip of the sorted names starting with the first."""
    names = sorted(names)
    if chosen:
        unknown = sorted(set(chosen) - set(names))
        if unknown:
            raise DataError(f"validation clips {unknown} are not test clips; clips: {names}")
        val = [n for n in names if n in chosen]
    else:
        if not 0 < fraction < 1:
            raise DataError(f"validation fraction must be in (0, 1), got {fraction}")
        val = names[:: max(1, round(1 / fraction))]
    test = [n for n in names if n not in val]
    if not test:
        raise DataError(
            f"all {len(names)} labelled clips would be validation, none left to report as "
            "test; add clips or lower the validation fraction"
        )
    return val, test


def _check_both_classes(clips: list[LoadedClip], what: str) -> None:
    labels = np.concatenate([c.labels for c in clips if c.labels is not None])
    if np.unique(labels).size < 2:
        raise DataError(
            f"{what} clips {[c.name for c in clips]} hold only label {int(labels[0])}; AUC "
            "needs normal and anomalous frames: choose other clips with --val-clips"
        )


def inject_anomaly(frames: list[np.ndarray], seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """A copy of raw frames with a large dark square crossing fast during the middle
    third, and its 0/1 frame labels: a stand-in anomaly for cameras without labels."""
    n = len(frames)
    rng = np.random.default_rng(seed)
    h, w = frames[0].shape[:2]
    side = max(4, min(h, w) // 5)
    speed = max(2, w // 15)  # px per frame, several times a walker's
    row = int(rng.integers(0, max(1, h - side)))
    start, stop = n // 3, max(n // 3 + 1, 2 * n // 3)
    out = [f.copy() for f in frames]
    labels = np.zeros(n, np.int8)
    for t in range(start, stop):
        x = ((t - start) * speed) % max(1, w - side)
        cv2.rectangle(out[t], (x, row), (x + side, row + side), (20, 20, 20), -1)
        labels[t] = 1
    return out, labels


def pseudo_validation(
    root: Path, cfg: DataConfig, calibration: list[LoadedClip], seed: int
) -> list[LoadedClip]:
    """The calibration clips, re-read raw, with ``inject_anomaly`` applied."""
    raw = {c.name: c for c in open_split(root, "train")}
    out = []
    for i, held in enumerate(calibration):
        base = held.name.removesuffix(HOLDOUT_SUFFIX)
        frames = list(read_frames(raw[base].path))
        if held.name != base:  # a time-split hold-out is the tail of its clip
            frames = frames[-len(held.frames) :]
        injected, labels = inject_anomaly(frames, seed + i)
        out.append(
            LoadedClip(f"{held.name}+synthetic", preprocess_clip(injected, cfg.preprocess), labels)
        )
    return out


def load_search_data(
    root: Path,
    cfg: DataConfig,
    holdout_fraction: float,
    seed: int,
    objective: Literal["auto", "auc", "label-free"] = "auto",
    val_fraction: float = 0.25,
    val_clips: list[str] | None = None,
    on_clip: Callable[[str], None] | None = None,
) -> SearchData:
    root = Path(root)
    auto: ObjectiveKind = "auc" if has_labels(root) else "label-free"
    kind: ObjectiveKind = auto if objective == "auto" else objective
    if kind == "auc" and not has_labels(root):
        raise DataError(
            f"{root}: the AUC objective needs test/ and test_labels.json; without labels "
            "use --objective label-free"
        )
    train, calibration = load_training_data(root, cfg, holdout_fraction, seed, on_clip)
    if not calibration:
        raise DataError(
            "a search needs held-out normal clips for calibration; set "
            "training.holdout_fraction above 0"
        )
    if kind == "label-free":
        return SearchData(
            str(root), kind, train, calibration, pseudo_validation(root, cfg, calibration, seed), []
        )
    labelled = {c.name: c for c in open_split(root, "test", require_labels=True)}
    val_names, test_names = validation_split(list(labelled), val_fraction, val_clips)
    validation = load_clips([labelled[n] for n in val_names], cfg, on_clip)
    test = load_clips([labelled[n] for n in test_names], cfg, on_clip)
    _check_both_classes(validation, "validation")
    return SearchData(str(root), kind, train, calibration, validation, test)
