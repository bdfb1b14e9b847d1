"""`streamproc bench flow`: the optical-flow algorithms of the motion channel compared on
each scene, by the training-free flow-speed score's streaming AUC and by the CPU time of
one frame's preprocessing (resize + flow), from the process's own accounting."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from streamproc.config import StreamprocConfig
from streamproc.config.data import FLOW_METHODS, PreprocessConfig
from streamproc.evaluation.protocols import PROTOCOLS
from streamproc.evaluation.runner import report_for, score_baseline
from streamproc.sources.dataset import open_split
from streamproc.sources.frames import read_frames
from streamproc.threshold.policy import calibrated_from_stats
from streamproc.windowing.preprocess import FramePreprocessor

METHODS = FLOW_METHODS
TIMED_FRAMES = 200


def cpu_ms_per_frame(data: Path, pre: PreprocessConfig) -> float:
    """CPU milliseconds to preprocess a frame (the first test clip's first frames)."""
    clip = open_split(data, "test")[0]
    frames = list(read_frames(clip.path))[:TIMED_FRAMES]
    p = FramePreprocessor(pre)
    p(frames[0])  # the first frame has no flow
    t0 = time.process_time()
    for f in frames[1:]:
        p(f)
    return (time.process_time() - t0) / max(1, len(frames) - 1) * 1000


def flow_rows(
    datas: list[Path],
    methods: tuple[str, ...] = METHODS,
    scales: tuple[float, ...] | None = None,
) -> list[dict[str, Any]]:
    """One row per scene, flow method and flow scale (default: the config's scale)."""
    rows = []
    default_scale = PreprocessConfig().flow_scale
    for data, method, scale in (
        (d, m, sc) for d in datas for m in methods for sc in (scales or (default_scale,))
    ):
        cfg = StreamprocConfig()
        cfg.data.preprocess = cfg.data.preprocess.model_copy(
            update={"flow_method": method, "flow_scale": scale}
        )
        scored, stats = score_baseline(cfg, data, kind="flow speed")
        cal = calibrated_from_stats(stats, "baseline")
        rep = {p: report_for(scored, p, cal, cfg, {})[0] for p in PROTOCOLS}
        rows.append(
            {
                "scene": Path(data).resolve().name,
                "flow": method,
                "scale": scale,
                "stream_micro": rep["streaming"]["micro_auc"],
                "stream_macro": rep["streaming"]["macro_auc"],
                "offline_micro": rep["offline"]["micro_auc"],
                "cpu_ms_per_frame": cpu_ms_per_frame(data, cfg.data.preprocess),
            }
        )
    return rows


def flow_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "Training-free flow-speed score (patch-max, causal smoothing) per flow algorithm; "
        f"CPU ms per frame = resize + flow at the default resolution, first {TIMED_FRAMES} "
        "frames of the first test clip.",
        "",
        "| scene | flow | flow scale | stream micro AUC | stream macro AUC | offline micro AUC "
        "| CPU ms/frame |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scene']} | {r['flow']} | {r['scale']:g} | {r['stream_micro']:.4f} "
            f"| {r['stream_macro']:.4f} "
            f"| {r['offline_micro']:.4f} | {r['cpu_ms_per_frame']:.2f} |"
        )
    for method, scale in dict.fromkeys((r["flow"], r["scale"]) for r in rows):
        mine = [r for r in rows if (r["flow"], r["scale"]) == (method, scale)]
        if len(mine) > 1:
            lines.append(
                f"| mean | {method} | {scale:g} | {np.mean([r['stream_micro'] for r in mine]):.4f} "
                f"| {np.mean([r['stream_macro'] for r in mine]):.4f} "
                f"| {np.mean([r['offline_micro'] for r in mine]):.4f} "
                f"| {np.mean([r['cpu_ms_per_frame'] for r in mine]):.2f} |"
            )
    return "\n".join(lines) + "\n"
