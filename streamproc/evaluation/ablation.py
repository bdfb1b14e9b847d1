"""`streamproc bench scoring`: how the scoring choices change the streaming AUC of one
trained artifact (channels; squared, excess or relative residual; pixel normalisation;
patch size; appearance+motion fusion; per-location normalisation) beside two
training-free baselines (frame difference and optical-flow speed). The network runs once
per clip; every variant is derived from the same predictions. Variants that need normal
statistics take them from the artifact's calibration clips (never from test footage)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamproc.config.smoothing import SmoothingConfig
from streamproc.evaluation.metrics import macro_auc, micro_auc
from streamproc.model.artifact import Artifact, load_artifact
from streamproc.model.clip import stack_windows
from streamproc.model.scoring import channel_slice, error_maps, patch_max
from streamproc.smoothing.series import smooth_causal
from streamproc.sources.dataset import Clip, open_split
from streamproc.sources.frames import read_frames
from streamproc.windowing.preprocess import preprocess_clip
from streamproc.windowing.windows import first_cover, window_starts

PATCHES = (8, 12, 16, 20, 24)
NORMALISED_PATCHES = (12, 20)  # pixel normalisation hurt at every size; two are enough
FUSED_PATCH = 20
KINDS = ("squared", "excess", "relative")


def _predictions(art: Any, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Input and prediction per frame (N, C, H, W), each frame from its first window."""
    w = art.config.data.window
    starts = window_starts(len(frames), w.length, w.stride)
    owner = first_cover(len(frames), starts, w.length)
    pos = np.arange(len(frames)) - np.asarray(starts)[owner]
    xs, recons = [], []
    with torch.inference_mode():
        for i in range(0, len(starts), 16):
            x = torch.from_numpy(stack_windows(frames, starts[i : i + 16], w.length))
            xs.append(x)
            recons.append(art.model(x).recon)  # (B, C, T, H, W)
    return torch.cat(xs)[owner, :, pos], torch.cat(recons)[owner, :, pos]


def _maps(art: Artifact, clip: Clip) -> dict[str, torch.Tensor]:
    """Per-pixel error maps (N, H, W) of one clip by 'channels residual' name."""
    pre = art.config.data.preprocess
    x, recon = _predictions(art, preprocess_clip(list(read_frames(clip.path)), pre))
    x, recon = x[:, :, None], recon[:, :, None]  # (N, C, 1, H, W): frames as a batch
    out = {}
    for which in ("all", "appearance", "motion"):
        if which == "motion" and pre.motion == "none":
            continue
        ch = channel_slice(which, pre.appearance_channels)
        for kind in KINDS:
            if kind == "relative" and which != "motion":
                continue  # a fraction of the expected value means something for motion only
            out[f"{which} {kind}"] = error_maps(x, recon, ch, kind)[:, 0]
    if pre.motion != "none":
        out["flow"] = x[:, -1, 0]
    return out


def _pixel_stats(
    art: Artifact, clips: list[Clip], names: tuple[str, ...]
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-pixel mean and std of the named maps over held-out normal clips."""
    acc: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    for clip in clips:
        maps = _maps(art, clip)
        for n in names:
            acc[n].append(maps[n])
    return {n: (torch.cat(v).mean(0), torch.cat(v).std(0)) for n, v in acc.items()}


def scoring_ablation(data: Path, artifact: Path) -> list[dict[str, Any]]:
    art = load_artifact(artifact)
    pre = art.config.data.preprocess
    flow_pre = pre.model_copy(update={"motion": "flow"})
    diff_pre = pre.model_copy(update={"motion": "diff", "motion_gain": 1.0})
    pix = art.calibration.pixel_error
    floor = 0.1 * float(pix.mean()) if pix is not None else 0.0
    held = set(art.metadata.get("training", {}).get("calibration_clips", []))
    cal_clips = [c for c in open_split(data, "train") if c.name in held]
    motion = pre.motion != "none"
    fused_cues = ("appearance squared", "motion relative", "motion excess") if motion else ()
    located = ("motion excess", "flow") if motion else ()
    # Normal statistics of each cue (pooled, for fusion) and of each pixel (for per-location
    # normalisation), from the artifact's calibration clips only.
    cue_stats: dict[str, tuple[float, float]] = {}
    loc_stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if cal_clips and motion:
        pooled: dict[str, list[torch.Tensor]] = {c: [] for c in fused_cues}
        for clip in cal_clips:
            maps = _maps(art, clip)
            for c in fused_cues:
                pooled[c].append(patch_max(maps[c][None], FUSED_PATCH)[0])
        cue_stats = {
            c: (float(torch.cat(v).mean()), float(torch.cat(v).std()) + 1e-9)
            for c, v in pooled.items()
        }
        loc_stats = _pixel_stats(art, cal_clips, located)
    variants: dict[str, dict[str, np.ndarray]] = {}
    labels: dict[str, np.ndarray] = {}

    def add(name: str, clip: str, value: torch.Tensor) -> None:
        variants.setdefault(name, {})[clip] = value.numpy().astype(np.float64)

    def z(cue: str, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        mean, std = cue_stats[cue]
        return (patch_max(maps[cue][None], FUSED_PATCH)[0] - mean) / std

    for clip in open_split(data, "test", require_labels=True):
        assert clip.labels is not None
        labels[clip.name] = clip.labels
        raw = list(read_frames(clip.path))
        maps = _maps(art, clip)
        for name, err in maps.items():
            if name == "flow":
                continue
            for p in PATCHES:
                add(f"model {name} p{p}", clip.name, patch_max(err[None], p)[0])
        kind = art.config.scoring.residual
        if pix is not None:  # the calibration map holds the artifact's residual kind
            for which in ("all", "appearance", "motion"):
                if f"{which} {kind}" not in maps:
                    continue
                norm = maps[f"{which} {kind}"] / (pix + floor + 1e-6)
                for p in NORMALISED_PATCHES:
                    name = f"model {which} {kind} pixel-normalised p{p}"
                    add(name, clip.name, patch_max(norm[None], p)[0])
        if cue_stats:
            app = z("appearance squared", maps)
            for m in ("relative", "excess"):
                fused = torch.maximum(app, z(f"motion {m}", maps))
                add(f"fused max-z: appearance + motion {m} p{FUSED_PATCH}", clip.name, fused)
        for name, (mean, std) in loc_stats.items():
            zmap = (maps[name] - mean) / (std + 0.1 * float(std.mean()) + 1e-6)
            label = "model motion excess" if name != "flow" else "baseline optical-flow speed"
            add(f"{label} per-location z p{FUSED_PATCH}", clip.name, patch_max(zmap[None], 20)[0])
        diff = torch.from_numpy(preprocess_clip(raw, diff_pre)[:, -1])
        flow = torch.from_numpy(preprocess_clip(raw, flow_pre)[:, -1])
        for p in PATCHES:
            add(f"baseline frame-difference p{p}", clip.name, patch_max(diff[None], p)[0])
            add(f"baseline optical-flow speed p{p}", clip.name, patch_max(flow[None], p)[0])
    smoothing = art.config.smoothing
    rows = []
    for name, scores in variants.items():
        smoothed = {k: smooth_causal(v, smoothing) for k, v in scores.items()}
        none = {k: smooth_causal(v, SmoothingConfig(kind="none")) for k, v in scores.items()}
        rows.append(
            {
                "variant": name,
                "stream_micro": micro_auc(smoothed, labels),
                "stream_macro": macro_auc(smoothed, labels)[0],
                "unsmoothed_micro": micro_auc(none, labels),
            }
        )
    return rows


def ablation_table(rows: list[dict[str, Any]], artifact: str, version: str) -> str:
    lines = [
        f"Artifact `{artifact}` (version {version}); streaming protocol, causal smoothing "
        "of the artifact's config.",
        "",
        "| variant | stream micro AUC | stream macro AUC | micro AUC without smoothing |",
        "|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -r["stream_micro"]):
        lines.append(
            f"| {r['variant']} | {r['stream_micro']:.4f} | {r['stream_macro']:.4f} "
            f"| {r['unsmoothed_micro']:.4f} |"
        )
    return "\n".join(lines) + "\n"
