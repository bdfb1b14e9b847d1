"""From a window and its reconstruction to per-frame anomaly scores and error maps.

Pure functions over tensors plus a small ``WindowScorer`` that holds a model and its
calibration; the same scorer runs in evaluation, in the Serve deployment and in
benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from streamproc.config.scoring import ScoringConfig
from streamproc.errors import ConfigError
from streamproc.model.base import AnomalyModel, ModelOutput
from streamproc.model.device import Precision
from streamproc.model.engine import Engine, Network, build_network

EPS = 1e-6
# 'relative' residual: the floor of the expected value, in channel units. On the motion
# channel (speed x gain / 8 px per frame, saturating at 1) 0.1 is 0.2 px per frame at the
# model's size, about half a walker's speed: below it, an excess counts as absolute.
RELATIVE_FLOOR = 0.1
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Largest gap (reconstructions are in [0, 1]) between a compiled engine and eager torch in
# the same precision that ``WindowScorer.warm_up`` accepts: measured 1e-6 in fp32; in bf16
# the two round differently (each is up to 0.006 from fp32 on UCSD Ped2, measured).
ENGINE_TOLERANCE = {"fp32": 1e-3, "bf16": 0.05, "fp16": 0.05}


def error_maps(
    x: torch.Tensor,
    recon: torch.Tensor,
    channels: slice = slice(None),
    residual: str = "squared",
) -> torch.Tensor:
    """Per-pixel error averaged over the selected channels: (B, C, T, H, W) -> (B, T, H, W).
    'squared': (x - recon)^2; 'excess': max(x - recon, 0), the part of the input above
    its reconstruction (on a motion channel: more motion than the network expected);
    'relative': the excess divided by what was expected (plus a floor), so the same
    surplus counts less where fast motion is normal (walkers near the camera) than where
    nothing should move fast (the far end of a walkway)."""
    diff = x[:, channels] - recon[:, channels]
    if diff.shape[1] == 0:
        raise ValueError(
            f"the scored channels select none of the input's {x.shape[1]} channel(s): "
            "scoring.channels 'motion' needs a motion channel (data.preprocess.motion)"
        )
    if residual == "relative":
        expected = recon[:, channels].clamp(min=0) + RELATIVE_FLOOR
        return (diff.clamp(min=0) / expected).mean(dim=1)
    return residual_map(diff, residual)


def residual_map(diff: torch.Tensor, residual: str) -> torch.Tensor:
    """Signed residuals x - recon (B, C, ...) -> per-pixel error averaged over C."""
    if residual == "excess":
        return diff.clamp(min=0).mean(dim=1)
    return diff.pow(2).mean(dim=1)


def channel_slice(which: str, appearance_channels: int) -> slice:
    """The channels ScoringConfig.channels names; the motion channel comes last."""
    if which == "appearance":
        return slice(0, appearance_channels)
    if which == "motion":
        return slice(appearance_channels, None)
    return slice(None)


def patch_max(maps: torch.Tensor, patch: int) -> torch.Tensor:
    """Max over half-overlapping patches of the mean error in each patch:
    (B, T, H, W) -> (B, T). A small object is not averaged away by the whole frame."""
    b, t, h, w = maps.shape
    k = max(1, min(patch, h, w))
    pooled = F.avg_pool2d(maps.reshape(b * t, 1, h, w), k, stride=max(1, k // 2))
    return pooled.reshape(b, t, -1).amax(dim=2)


def regularity(mean_error: torch.Tensor, e_min: float, e_max: float) -> torch.Tensor:
    """Seed 002's regularity s(t) = 1 - (e(t) - min) / max, with min and max taken from
    calibration (a live stream cannot see the clip's own extremes)."""
    return 1.0 - (mean_error - e_min) / max(e_max, EPS)


def knn_distance(codes: torch.Tensor, bank: torch.Tensor, k: int) -> torch.Tensor:
    """Mean Euclidean distance of each code (N, D) to its k nearest rows of bank (M, D)."""
    d = torch.cdist(codes, bank)  # (N, M)
    k = min(k, bank.shape[0])
    return d.topk(k, dim=1, largest=False).values.mean(dim=1)


def masked_mean(maps: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """Mean of each frame's map over the pixels that count: (B, T, H, W) -> (B, T)."""
    if masks is None:
        return maps.mean(dim=(2, 3))
    area = masks.sum(dim=(1, 2)).clamp(min=1.0)[:, None]  # (B, 1)
    return (maps * masks[:, None]).sum(dim=(2, 3)) / area


def latent_cells(masks: torch.Tensor, latent_dim: int, grid: tuple[int, int]) -> torch.Tensor:
    """Which dimensions of a flattened (L, gh, gw) latent code lie in the region that
    counts: pixel masks (B, H, W) -> bool (B, L * gh * gw); a cell counts when at least
    half of its pixels do."""
    cells = F.adaptive_avg_pool2d(masks[:, None], grid)[:, 0] >= 0.5  # (B, gh, gw)
    per_cell = cells.flatten(1)  # (B, gh * gw)
    channels = latent_dim // per_cell.shape[1]
    return per_cell.repeat(1, channels)  # the code is channel-major: index = l * cells + c


def masked_knn(
    codes: torch.Tensor, bank: torch.Tensor, k: int, keep: torch.Tensor | None
) -> torch.Tensor:
    """``knn_distance`` over the code dimensions ``keep`` selects (per row of codes)."""
    if keep is None:
        return knn_distance(codes, bank, k)
    out = torch.empty(codes.shape[0], device=codes.device)
    for i in range(codes.shape[0]):
        sel = keep[i]
        if not bool(sel.any()):
            out[i] = 0.0  # nothing of this frame counts
            continue
        out[i] = knn_distance(codes[i : i + 1, sel], bank[:, sel], k)[0]
    return out


CUES = ("appearance", "motion")


def fuse(cues: dict[str, torch.Tensor], stats: dict[str, tuple[float, float]]) -> torch.Tensor:
    """Max over cues of each cue's z-score against its own normal statistics, so a cue
    whose normal level is high (fast walkers near the camera) cannot drown the other."""
    missing = [c for c in cues if c not in stats]
    if missing:
        raise ValueError(
            f"fused scoring needs calibration statistics for cue(s) {missing}; "
            "recalibrate the artifact (streamproc model recalibrate) or retrain it"
        )
    z = [(s - stats[c][0]) / max(stats[c][1], EPS) for c, s in cues.items()]
    return torch.stack(z).amax(dim=0)


@dataclass
class Calibration:
    """What the scorer needs from held-out normal data (see ``calibration.py``)."""

    pixel_error: torch.Tensor | None = None  # (H, W) mean error map of normal windows
    latent_bank: torch.Tensor | None = None  # (M, D) per-frame latent codes of normal data
    error_min: float = 0.0
    error_max: float = 1.0
    # cue -> (mean, std) of its pooled score over held-out normal frames (fused scoring)
    cue_stats: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class WindowScores:
    frame_scores: np.ndarray  # (B, T) the configured score
    mean_error: np.ndarray  # (B, T) plain MSE, always reported
    error_maps: np.ndarray | None  # (B, T, H, W) when requested (heatmaps); see map_rows
    recon: np.ndarray | None  # (B, C, T, H, W) when requested (videos)
    cues: dict[str, np.ndarray] = field(default_factory=dict)  # cue -> (B, T) pooled, raw
    # The windows error_maps holds, in order, when only some were copied (map_min_score);
    # None: every window of the batch.
    map_rows: list[int] | None = None


class WindowScorer:
    """Scores batches of windows (B, C, T, H, W) with a trained model: one forward pass,
    then the configured score, with an optional mask (B, H, W) of the pixels that count
    (regions of interest) applied whatever the method. ``precision`` is the network's
    arithmetic (resolved: no 'auto' here, see ``device.resolve_precision``), ``engine``
    how it runs (``engine.build_network``)."""

    def __init__(
        self,
        model: AnomalyModel,
        cfg: ScoringConfig,
        calibration: Calibration | None = None,
        device: torch.device | str = "cpu",
        appearance_channels: int = 1,
        precision: Precision = "fp32",
        engine: Engine = "eager",
    ) -> None:
        self.device = torch.device(device)
        self.precision = precision
        self.engine = engine
        self.appearance_channels = appearance_channels
        self.channels = channel_slice(cfg.channels, appearance_channels)
        self.model = model.to(self.device).eval()
        self.network: Network = build_network(self.model, engine, self.device)
        self.cfg = cfg
        self.cal = calibration or Calibration()
        if self.cal.pixel_error is not None:
            self.cal.pixel_error = self.cal.pixel_error.to(self.device)
        if self.cal.latent_bank is not None:
            self.cal.latent_bank = self.cal.latent_bank.to(self.device)

    @torch.inference_mode()
    def forward(self, windows: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, ModelOutput]:
        """The network on a batch; with ``precision`` bf16 or fp16 under autocast (the
        outputs come back as float32). To a GPU the batch goes through pinned memory."""
        x = torch.as_tensor(windows, dtype=torch.float32)
        if self.device.type == "cuda" and x.device.type == "cpu":
            x = x.pin_memory().to(self.device, non_blocking=True)
        else:
            x = x.to(self.device)
        if self.precision == "fp32":
            return x, self.network(x)
        with torch.autocast(self.device.type, dtype=AUTOCAST[self.precision]):
            out = self.network(x)
        return x, replace(out, recon=out.recon.float(), latent=out.latent.float())

    @torch.inference_mode()
    def warm_up(self, window: tuple[int, int, int, int]) -> None:
        """Run the network on a batch of two windows (C, T, H, W) and on one, so a compiled
        engine compiles both of its graphs now rather than on live requests, and check it
        against eager torch in the same precision: generated code on a CPU never tested
        here must not change the scores silently."""
        if self.engine == "eager":
            return
        g = torch.Generator().manual_seed(0)
        for n in (2, 1):
            x = torch.rand(n, *window, generator=g)
            _, got = self.forward(x)
            with torch.autocast(
                self.device.type, AUTOCAST.get(self.precision), enabled=self.precision != "fp32"
            ):
                want = self.model(x.to(self.device)).recon.float()
            gap = float((got.recon - want).abs().max())
            if gap > ENGINE_TOLERANCE[self.precision]:
                raise ConfigError(
                    f"serving.engine {self.engine!r} reconstructs a test window {gap:.3g} away "
                    f"from eager torch ({self.precision}) on this machine, more than "
                    f"{ENGINE_TOLERANCE[self.precision]}; set serving.engine to 'eager'"
                )

    def _normalise(self, maps: torch.Tensor) -> torch.Tensor:
        if self.cfg.normalize_pixels and self.cal.pixel_error is not None:
            pix = self.cal.pixel_error
            if pix.shape == maps.shape[-2:]:
                maps = maps / (pix + pix.mean() * 0.1 + EPS)
        return maps

    def cue_maps(self, x: torch.Tensor, out: ModelOutput) -> dict[str, torch.Tensor]:
        """The per-pixel error maps that are pooled into scores, by cue name: one map
        ('score') for a single-cue config, 'appearance' and 'motion' when fused."""
        if self.cfg.fusion == "none":
            single = error_maps(x, out.recon, self.channels, self.cfg.residual)
            return {"score": self._normalise(single)}
        a = self.appearance_channels
        maps = {"appearance": error_maps(x, out.recon, slice(0, a), "squared")}
        if x.shape[1] > a:
            maps["motion"] = error_maps(x, out.recon, slice(a, None), self.cfg.residual)
        return maps

    def _pool(
        self, maps: torch.Tensor, out: ModelOutput, masks: torch.Tensor | None
    ) -> torch.Tensor:
        method = self.cfg.method
        if masks is not None:
            maps = maps * masks[:, None]
        if method == "patch-max":
            return patch_max(maps, self.cfg.patch)
        if method == "mean":
            return masked_mean(maps, masks)
        if method == "regularity":
            e = masked_mean(maps, masks)
            return 1.0 - regularity(e, self.cal.error_min, self.cal.error_max)
        if self.cal.latent_bank is None:
            raise ValueError("latent-knn scoring needs a calibrated latent bank in the artifact")
        b, t, d = out.latent.shape
        keep = None
        if masks is not None:
            grid = out.latent_grid or (1, 1)
            keep = latent_cells(masks, d, grid).repeat_interleave(t, dim=0)  # (B*T, D)
        s = masked_knn(out.latent.reshape(b * t, d), self.cal.latent_bank, self.cfg.knn_k, keep)
        return s.reshape(b, t)

    @torch.inference_mode()
    def score(
        self,
        windows: np.ndarray | torch.Tensor,
        with_maps: bool = False,
        with_recon: bool = False,
        masks: np.ndarray | torch.Tensor | None = None,
        map_min_score: float | None = None,
    ) -> WindowScores:
        """Score a batch; ``masks`` (B, H, W) of 0/1 selects the pixels that count. With
        ``map_min_score`` only the error maps of windows whose highest frame score reaches
        it leave the device (``map_rows`` says which): a heatmap is drawn only for a
        window that may alert."""
        x, out = self.forward(windows)
        m = None if masks is None else torch.as_tensor(masks, dtype=torch.float32, device=x.device)
        raw = error_maps(x, out.recon, self.channels, self.cfg.residual)
        maps = self.cue_maps(x, out)
        cues = {name: self._pool(mp, out, m) for name, mp in maps.items()}
        if self.cfg.fusion == "none":
            s, shown = cues["score"], maps["score"]
        else:
            s = fuse(cues, self.cal.cue_stats) if self.cal.cue_stats else cues["appearance"]
            shown = self._strongest_map(maps, cues) if with_maps else maps["appearance"]
        if m is not None:
            shown = shown * m[:, None]
        frame_scores = s.float().cpu().numpy()
        rows = None
        if with_maps and map_min_score is not None:
            rows = [int(i) for i in np.flatnonzero(frame_scores.max(axis=1) >= map_min_score)]
            shown = shown[rows]
        return WindowScores(
            frame_scores=frame_scores,
            mean_error=masked_mean(raw, m).float().cpu().numpy(),
            error_maps=shown.float().cpu().numpy() if with_maps else None,
            recon=out.recon.float().cpu().numpy() if with_recon else None,
            cues={k: v.float().cpu().numpy() for k, v in cues.items()},
            map_rows=rows,
        )

    def _strongest_map(
        self, maps: dict[str, torch.Tensor], cues: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Per frame, the error map of the cue with the highest z-score, in z units."""
        stats = self.cal.cue_stats
        names = list(maps)
        if not stats:
            return maps[names[0]]
        z = torch.stack([(cues[n] - stats[n][0]) / max(stats[n][1], EPS) for n in names])
        scaled = torch.stack([maps[n] / max(stats[n][1], EPS) for n in names])  # (K,B,T,H,W)
        pick = z.argmax(dim=0)  # (B, T)
        return torch.gather(scaled, 0, pick[None, :, :, None, None].expand_as(scaled[:1]))[0]
