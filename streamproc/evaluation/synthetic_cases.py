"""Synthetic cases the shared scenes lack, built from a scene's own footage (issue 22):

- ``loiterer``: a person cut from a training frame of the scene, pasted standing still
  for ``seconds`` where nobody walks in the training footage. It must alert: nothing
  moves, so only a cue for "what belongs at this place" can see it.
- ``close-walker``: a walker of the training footage scaled up until it fills a quarter
  of the frame, moving at its own speed times the same scale (a walker nearer the
  camera is larger and faster in pixels). It must not alert.

People are cut by background subtraction: the per-pixel median of a training clip is
the empty scene, a person is a connected region that differs from it, and a walker is
one region followed from frame to frame by its nearest centre. The cases are written
as a labelled dataset (``test/<case>/NNN.png`` and ``test_labels.json``) over the
footage the artifact held out for calibration, so the usual scoring and streaming
protocol judge them. Each case names its base clip, place, scale and frames.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamproc.errors import DataError
from streamproc.sources.dataset import find_clips
from streamproc.sources.frames import read_frames

DIFF_LEVEL = 25  # gray levels from the empty scene that count as foreground
MIN_AREA, MAX_AREA = 0.001, 0.05  # a person's region, as fractions of the frame
QUARTER = 0.25  # the close walker's box covers this fraction of the frame
TALLEST = 0.9  # ... unless that would make it taller than this fraction of the frame


@dataclass(frozen=True)
class Cut:
    """A person: gray pixels, a soft 0..1 mask of the same shape, and where it stood."""

    patch: np.ndarray
    mask: np.ndarray
    x: int
    y: int


@dataclass(frozen=True)
class Case:
    kind: str  # "loiterer" or "close-walker"
    base: str  # the footage it is pasted into
    first: int  # first pasted frame
    last: int  # last pasted frame (inclusive)
    x: int
    y: int
    scale: float


def gray(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def load(path: Path, limit: int | None = None) -> list[np.ndarray]:
    frames = []
    for f in read_frames(path):
        frames.append(gray(f))
        if limit is not None and len(frames) >= limit:
            break
    return frames


def background(frames: Sequence[np.ndarray]) -> np.ndarray:
    """The empty scene: each pixel's median over (at most 60 of) the frames."""
    step = max(1, len(frames) // 60)
    return np.median(np.stack(frames[::step]), axis=0).astype(np.uint8)


def foreground(frame: np.ndarray, bg: np.ndarray, close: int = 7) -> np.ndarray:
    """Pixels that differ from the empty scene; ``close`` joins a person's parts."""
    diff = cv2.absdiff(frame, bg) > DIFF_LEVEL
    mask = cv2.morphologyEx(diff.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))


def people(frame: np.ndarray, bg: np.ndarray) -> list[Cut]:
    """Regions of a person's size that differ from the empty scene."""
    mask = foreground(frame, bg)
    tight = foreground(frame, bg, close=3)  # the pixels pasted: no background between limbs
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    area = frame.shape[0] * frame.shape[1]
    cuts = []
    for i in range(1, n):
        x, y, w, h, px = (int(v) for v in stats[i])
        # One upright person: taller than 1.5 times its width, filling its box in part.
        if not MIN_AREA * area <= px <= MAX_AREA * area or h < 1.5 * w:
            continue
        if not 0.4 <= px / (w * h) <= 0.9:
            continue
        m = ((labels[y : y + h, x : x + w] == i) & (tight[y : y + h, x : x + w] > 0)).astype(
            np.float32
        )
        soft = cv2.GaussianBlur(m, (3, 3), 0)
        cuts.append(Cut(frame[y : y + h, x : x + w].copy(), soft, x, y))
    return cuts


def walker_track(frames: Sequence[np.ndarray], bg: np.ndarray, length: int) -> list[Cut]:
    """The longest run of one person followed frame to frame (nearest centre, at most a
    third of its height away), up to ``length`` frames; empty if nobody is found."""
    best: list[Cut] = []
    per_frame = [people(f, bg) for f in frames]
    for start, found in enumerate(per_frame):
        for first in found:
            track = [first]
            for later in per_frame[start + 1 :]:
                last = track[-1]
                cx, cy = last.x + last.patch.shape[1] / 2, last.y + last.patch.shape[0] / 2
                near = [
                    c
                    for c in later
                    if abs(c.x + c.patch.shape[1] / 2 - cx) + abs(c.y + c.patch.shape[0] / 2 - cy)
                    < last.patch.shape[0] / 3
                ]
                if not near:
                    break
                track.append(min(near, key=lambda c: abs(c.x - last.x) + abs(c.y - last.y)))
                if len(track) >= length:
                    return track
            if len(track) > len(best):
                best = track
    return best


def quiet_place(frames: Sequence[np.ndarray], bg: np.ndarray, h: int, w: int) -> tuple[int, int]:
    """Top-left of an ``h`` x ``w`` box where nobody walks in ``frames`` (people cover it
    in at most 0.2% of them), as near as possible to where people do walk but at least
    half a person's height from it: somebody standing just off the path."""
    occupancy = np.mean([foreground(f, bg) for f in frames], axis=0).astype(np.float32)
    H, W = occupancy.shape
    if h + 8 >= H or w + 8 >= W:
        raise DataError(f"a person of {w}x{h} px does not fit a {W}x{H} frame")
    box = cv2.boxFilter(occupancy, -1, (w, h), normalize=True, borderType=cv2.BORDER_REFLECT)
    busy = (occupancy > 0.05).astype(np.uint8)
    if not busy.any():
        raise DataError("nobody walks in the base footage: no path to stand beside")
    far = cv2.distanceTransform(1 - busy, cv2.DIST_L2, 5)  # px from the nearest busy pixel
    best: tuple[float, int, int] | None = None
    for y in range(4, H - h - 4, 2):
        for x in range(4, W - w - 4, 2):
            if box[y + h // 2, x + w // 2] > 0.002:
                continue
            d = float(far[y + h // 2, x + w // 2])
            if d >= h / 2 and (best is None or d < best[0]):
                best = (d, x, y)
    if best is None:
        raise DataError(f"no {w}x{h} px place where nobody walks in the base footage")
    return best[1], best[2]


def paste(frame: np.ndarray, cut: Cut, x: int, y: int, scale: float = 1.0) -> np.ndarray:
    patch, mask = cut.patch, cut.mask
    if scale != 1.0:
        size = (max(1, round(patch.shape[1] * scale)), max(1, round(patch.shape[0] * scale)))
        patch = cv2.resize(patch, size, interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
    H, W = frame.shape
    h, w = patch.shape
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return frame
    out = frame.astype(np.float32)
    p = patch[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    m = mask[y0 - y : y1 - y, x0 - x : x1 - x]
    out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1 - m) + p * m
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def loiterer(base: list[np.ndarray], person: Cut, x: int, y: int, n: int) -> tuple[list, Case]:
    first = max(0, (len(base) - n) // 3)
    last = min(len(base), first + n) - 1
    out = [paste(f, person, x, y) if first <= i <= last else f for i, f in enumerate(base)]
    return out, Case("loiterer", "", first, last, x, y, 1.0)


def close_walker(base: list[np.ndarray], track: list[Cut]) -> tuple[list, Case]:
    """The track scaled until its box covers a quarter of the frame (or 90% of its
    height, if that comes first), moving by its own steps times the scale, entering from
    the side it walks away from."""
    H, W = base[0].shape
    h = float(np.median([c.patch.shape[0] for c in track]))
    w = float(np.median([c.patch.shape[1] for c in track]))
    scale = min(float(np.sqrt(QUARTER * H * W / (h * w))), TALLEST * H / h)
    steps = [
        (b.x - a.x + (b.patch.shape[1] - a.patch.shape[1]) / 2, b.y - a.y)
        for a, b in pairwise(track)
    ]
    dx = float(np.mean([s[0] for s in steps])) * scale if steps else 0.0
    dy = float(np.mean([s[1] for s in steps])) * scale if steps else 0.0
    sw, sh = w * scale, h * scale
    x = 0.0 if dx >= 0 else W - sw  # enter from the side it walks away from
    y = (H - sh) / 2
    first = max(0, (len(base) - len(track)) // 3)
    out = list(base)
    last = first
    for k, cut in enumerate(track):
        i = first + k
        if i >= len(base):
            break
        out[i] = paste(base[i], cut, round(x + k * dx), round(y + k * dy), scale)
        last = i
    return out, Case("close-walker", "", first, last, round(x), round(y), scale)


def write_clip(folder: Path, frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), f)


def build_cases(
    scene: Path, bases: Sequence[str], out: Path, fps: float, seconds: float = 5.0
) -> dict[str, Case]:
    """Write the cases over the training clips named ``bases`` of ``scene`` into ``out``
    (a labelled dataset); each person is cut from a training clip that is not the base."""
    train = {c.name: c for c in find_clips(scene / "train")}
    missing = [b for b in bases if b not in train]
    if missing:
        raise DataError(f"{scene}/train has no clips {missing}; clips: {sorted(train)}")
    n = round(seconds * fps)
    cases: dict[str, Case] = {}
    labels: dict[str, list[int]] = {}
    for base_name in bases:
        base = load(train[base_name].path)
        donor = next(c for name, c in sorted(train.items()) if name not in bases)
        donor_frames = load(donor.path, limit=200)
        bg = background(donor_frames)
        track = walker_track(donor_frames, bg, length=n)
        if len(track) < 2:
            raise DataError(f"{donor.path}: found no walker to cut (background subtraction)")
        person = max(track, key=lambda c: c.mask.sum())
        x, y = quiet_place(base, background(base), *person.patch.shape)
        frames, case = loiterer(base, person, x, y, n)
        name = f"loiterer-{base_name}"
        write_clip(out / "test" / name, frames)
        cases[name] = Case(case.kind, base_name, case.first, case.last, x, y, 1.0)
        labels[name] = [int(case.first <= i <= case.last) for i in range(len(frames))]
        frames, case = close_walker(base, track)
        name = f"close-walker-{base_name}"
        write_clip(out / "test" / name, frames)
        cases[name] = Case(case.kind, base_name, case.first, case.last, case.x, case.y, case.scale)
        labels[name] = [0] * len(frames)  # a walker, however near, is normal
    (out / "test_labels.json").write_text(json.dumps(labels))
    (out / "cases.json").write_text(json.dumps({k: asdict(v) for k, v in cases.items()}))
    return cases


def verdicts(
    cases: dict[str, Case], incidents: dict[str, list[tuple[int, int]]], fps: float
) -> dict[str, Any]:
    """A loiterer passes when an incident starts while it stands or within 2 s after; a
    close walker passes when no incident starts while it is in view or 2 s after."""
    tail = round(2 * fps)
    rows = {}
    for name, case in cases.items():
        starts = [s for s, _ in incidents.get(name, [])]
        during = any(case.first <= s <= case.last + tail for s in starts)
        passed = during if case.kind == "loiterer" else not during
        rows[name] = {**asdict(case), "incident": during, "passed": passed}
    by_kind = {}
    for kind in ("loiterer", "close-walker"):
        mine = [r for r in rows.values() if r["kind"] == kind]
        by_kind[kind] = f"{sum(r['passed'] for r in mine)}/{len(mine)}"
    return {"cases": rows, **by_kind}


def base_clips(art: Any) -> list[str]:
    """The footage to paste into: the training clips ``art`` (an Artifact) held out for
    calibration, else its first two training clips; empty when it records none."""
    training = art.metadata.get("training", {})
    return list(training.get("calibration_clips") or training.get("clips", [])[:2])


def judge(art: Any, data: Path, cases: dict[str, Case], batch: int = 16) -> dict[str, Any]:
    """Score the cases with ``art`` (an Artifact) and replay each as a camera through the
    worker's decisions (the streaming protocol); the verdict of each case."""
    from streamproc.evaluation.live import run_live
    from streamproc.evaluation.runner import eval_policy, score_dataset
    from streamproc.threshold.policy import calibrated_from_stats

    scored = score_dataset(art, data, batch)
    fps = art.config.evaluation.fps
    series = {name: r.streaming for name, r in scored.raw.items()}
    live = run_live(
        series, calibrated_from_stats(art.stats, art.version), eval_policy(art.config), fps
    )
    found: dict[str, list[tuple[int, int]]] = {}
    for inc in live.incidents:
        found.setdefault(inc.clip, []).append((inc.start, inc.end))
    return verdicts(cases, found, fps)
