"""`streamproc bench model`: ways to run the network on the CPU (or a GPU) compared on
the same real windows: CPU time of the forward pass, how far each one's per-frame scores
are from eager fp32, the streaming micro AUC, and how far the calibration statistics
(and so the threshold) move when the calibration clips are scored the same way.

A variant is ENGINE-PRECISION: ``eager`` or ``compile`` (``serving.engine``) with a
``serving.precision``, or ``onnx-fp32`` (ONNX Runtime's CPU provider on the exported
network; measured only, not a serving option and not a dependency: ``pip install
'onnxruntime>=1.20' 'onnxscript>=0.5'`` into the virtualenv to measure it).
Timing alternates the variants round by round on the same batches and reports the median
round, so a machine shared with other work shifts every variant alike.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamproc.errors import ConfigError
from streamproc.evaluation.protocols import RawScores
from streamproc.evaluation.runner import ScoredDataset, report_for
from streamproc.model.artifact import Artifact, load_artifact
from streamproc.model.base import ModelOutput
from streamproc.model.calibration import score_stats
from streamproc.model.clip import iter_batches, score_clip
from streamproc.model.device import resolve_precision
from streamproc.model.engine import Engine
from streamproc.model.scoring import WindowScorer
from streamproc.sources.dataset import Clip, open_split
from streamproc.sources.frames import read_frames
from streamproc.threshold.policy import calibrated_from_stats
from streamproc.windowing.preprocess import preprocess_clip
from streamproc.windowing.windows import window_starts

ENGINES = ("eager", "compile", "onnx")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# onnx-fp32 only where ONNX Runtime is installed (it is not a dependency).
_ONNX = ("onnx-fp32",) if importlib.util.find_spec("onnxruntime") else ()
DEFAULT_VARIANTS = ("eager-fp32", "eager-bf16", "compile-fp32", "compile-bf16", *_ONNX)
REFERENCE = "eager-fp32"


@dataclass(frozen=True)
class Variant:
    engine: str
    precision: str

    @property
    def name(self) -> str:
        return f"{self.engine}-{self.precision}"


def parse_variant(text: str) -> Variant:
    engine, _, precision = text.partition("-")
    if engine not in ENGINES or precision not in PRECISIONS:
        raise ConfigError(
            f"--variant must be ENGINE-PRECISION with ENGINE one of {', '.join(ENGINES)} and "
            f"PRECISION one of {', '.join(PRECISIONS)} (e.g. compile-bf16), got {text!r}"
        )
    if engine == "onnx" and precision != "fp32":
        raise ConfigError(f"--variant {text!r}: ONNX Runtime is measured in fp32 only (onnx-fp32)")
    return Variant(engine, precision)


class OnnxNetwork:
    """The network exported to ONNX (dynamic batch) and run by ONNX Runtime on the CPU,
    with as many threads as torch has; returns what the torch model returns."""

    def __init__(self, art: Artifact) -> None:
        try:
            import onnxruntime as ort
            import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
        except ImportError:
            raise ConfigError(
                "variant onnx-fp32 needs onnxruntime and onnxscript: "
                "pip install 'onnxruntime>=1.20' 'onnxscript>=0.5' into the virtualenv, or "
                "leave the onnx variant out"
            ) from None
        model = art.model.eval()
        example = torch.zeros(2, *art.window_shape)
        with torch.no_grad():
            self.grid = model(example).latent_grid

        class Plain(torch.nn.Module):  # tensors out, not a dataclass
            def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                out = model(x)
                return out.recon, out.latent

        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "model.onnx")
            torch.onnx.export(
                Plain().eval(),
                (example,),
                path,
                input_names=["x"],
                output_names=["recon", "latent"],
                dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=1024)}},
                external_data=False,
                verbose=False,
            )
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = torch.get_num_threads()
            opts.inter_op_num_threads = 1
            self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> ModelOutput:
        recon, latent = self.session.run(None, {"x": x.numpy()})
        return ModelOutput(torch.from_numpy(recon), torch.from_numpy(latent), latent_grid=self.grid)


def build_scorer(art: Artifact, variant: Variant) -> WindowScorer:
    if variant.engine != "onnx":
        engine: Engine = "compile" if variant.engine == "compile" else "eager"
        precision = resolve_precision(variant.precision, "cpu")  # type: ignore[arg-type]
        return art.scorer("cpu", precision, engine)
    scorer = art.scorer("cpu")
    scorer.network = OnnxNetwork(art)
    return scorer


def cpu_seconds() -> float:
    """CPU time of this process's threads and of its finished children (Inductor's
    compile workers)."""
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


def timing_batches(art: Artifact, clips: list[Clip], windows: int, batch: int) -> list[np.ndarray]:
    """The first ``windows`` windows of the test clips as a stream cuts them, in batches."""
    w = art.config.data.window
    out: list[np.ndarray] = []
    left = windows
    for clip in clips:
        frames = preprocess_clip(read_frames(clip.path), art.config.data.preprocess)
        starts = window_starts(len(frames), w.length, w.stride)[:left]
        out += [x for _, x in iter_batches(frames, starts, w.length, batch)]
        left -= len(starts)
        if left <= 0:
            break
    return out


def time_forward(
    jobs: dict[str, tuple[WindowScorer, list[np.ndarray]]], rounds: int
) -> dict[str, list[float]]:
    """CPU seconds of each job's forward passes (a scorer and its batches), per round; the
    order of the jobs alternates between rounds."""
    names = list(jobs)
    spent: dict[str, list[float]] = {n: [] for n in names}
    for n in names:  # untimed: lazy initialisation, and a recompile would show here
        scorer, batches = jobs[n]
        for x in batches:
            scorer.forward(x)
    for r in range(rounds):
        for n in names if r % 2 == 0 else names[::-1]:
            scorer, batches = jobs[n]
            t0 = time.process_time()
            for x in batches:
                scorer.forward(x)
            spent[n].append(time.process_time() - t0)
    return spent


def score_clips(
    scorers: dict[str, WindowScorer], art: Artifact, clips: list[Clip], batch: int
) -> dict[str, dict[str, RawScores]]:
    """Every variant's raw frame scores of every clip (each clip preprocessed once)."""
    out: dict[str, dict[str, RawScores]] = {n: {} for n in scorers}
    for clip in clips:
        frames = preprocess_clip(read_frames(clip.path), art.config.data.preprocess)
        for n, scorer in scorers.items():
            cs = score_clip(scorer, frames, art.config.data.window, batch, clip.name)
            out[n][clip.name] = RawScores(cs.streaming(), cs.offline())
    return out


def differences(ref: np.ndarray, other: np.ndarray, std: float) -> dict[str, float]:
    d = np.abs(other - ref)
    big = np.abs(ref) > 1e-6
    return {
        "max_abs_diff": float(d.max()),
        "max_rel_diff": float((d[big] / np.abs(ref[big])).max()) if big.any() else 0.0,
        "max_diff_in_std": float(d.max() / max(std, 1e-12)),  # in calibration std units
    }


def run_model_bench(
    data: Path,
    artifact: Path,
    variants: list[Variant],
    threads: int = 1,
    batch: int = 16,
    windows: int = 64,
    rounds: int = 5,
    accuracy: bool = True,
    log: Callable[[str], None] = lambda _: None,
    pass_sizes: list[int] | None = None,
) -> dict[str, Any]:
    """``pass_sizes``: also time every variant with forward passes of each of these many
    windows (the same windows, alternated in one run): what ``serving.forward_windows``
    chooses between."""
    torch.set_num_threads(threads)
    art = load_artifact(artifact)
    variants = [Variant("eager", "fp32"), *(v for v in variants if v.name != REFERENCE)]
    scorers: dict[str, WindowScorer] = {}
    build_s: dict[str, float] = {}
    for v in variants:
        t0 = cpu_seconds()
        scorers[v.name] = build_scorer(art, v)
        build_s[v.name] = cpu_seconds() - t0
        log(f"built {v.name} ({build_s[v.name]:.1f} CPU s)")
    test = open_split(data, "test", require_labels=True)
    batches = timing_batches(art, test, windows, batch)
    n_windows = sum(len(b) for b in batches)
    stride = art.config.data.window.stride
    spent = time_forward({n: (s, batches) for n, s in scorers.items()}, rounds)
    rows: list[dict[str, Any]] = []
    for v in variants:
        row: dict[str, Any] = {
            "variant": v.name,
            "engine": v.engine,
            "precision": resolve_precision(v.precision, "cpu")  # type: ignore[arg-type]
            if v.engine != "onnx"
            else "fp32",
            "build_cpu_s": round(build_s[v.name], 2),
            # a window of T frames at stride S brings S new frames of a camera's stream
            "cpu_ms_per_frame": float(np.median(spent[v.name])) / (n_windows * stride) * 1000,
            "cpu_ms_per_frame_rounds": [s / (n_windows * stride) * 1000 for s in spent[v.name]],
        }
        rows.append(row)
    log(f"timed {len(variants)} variant(s) x {rounds} rounds on {n_windows} windows")
    if accuracy:
        _accuracy(rows, scorers, art, data, test, batch, log)
    by_size: list[dict[str, Any]] = []
    if pass_sizes:
        cut = {b: timing_batches(art, test, windows, b) for b in pass_sizes}
        jobs = {f"{n}@{b}": (s, cut[b]) for n, s in scorers.items() for b in pass_sizes}
        per_size = time_forward(jobs, rounds)
        for n in scorers:
            for b in pass_sizes:
                ms = float(np.median(per_size[f"{n}@{b}"])) / (n_windows * stride) * 1000
                by_size.append({"variant": n, "windows_per_pass": b, "cpu_ms_per_frame": ms})
        log(f"timed {len(jobs)} variant x pass size(s) x {rounds} rounds")
    return {
        "pass_sizes": by_size,
        "artifact": str(artifact),
        "model_version": art.version,
        "data": str(data),
        "torch_threads": threads,
        "batch": batch,
        "timed_windows": n_windows,
        "stride": stride,
        "rounds": rounds,
        "calibrated_threshold": art.threshold,
        "rows": rows,
    }


def _accuracy(
    rows: list[dict[str, Any]],
    scorers: dict[str, WindowScorer],
    art: Artifact,
    data: Path,
    test: list[Clip],
    batch: int,
    log: Callable[[str], None],
) -> None:
    """Scores, AUC and calibration shift per row, against the eager fp32 reference."""
    raw = score_clips(scorers, art, test, batch)
    log(f"scored {len(test)} test clips with every variant")
    labels = {c.name: c.labels for c in test if c.labels is not None}
    cal = calibrated_from_stats(art.stats, art.version)
    std = float(art.stats["std"])
    ref = np.concatenate([raw[REFERENCE][c].streaming for c in labels])
    held = set(art.metadata.get("training", {}).get("calibration_clips", []))
    cal_clips = [c for c in open_split(data, "train") if c.name in held]
    cal_raw = score_clips(scorers, art, cal_clips, batch) if cal_clips else {}
    for row in rows:
        name = row["variant"]
        scored = ScoredDataset(raw[name], labels, test)
        rep, _ = report_for(scored, "streaming", cal, art.config, {})
        mine = np.concatenate([raw[name][c].streaming for c in labels])
        row.update(differences(ref, mine, std))
        row["micro_auc"] = rep["micro_auc"]
        row["false_alarm_rate"] = rep["false_alarm_rate"]
        if cal_raw:
            normal = np.concatenate([cal_raw[name][c.name].streaming for c in cal_clips])
            stats = score_stats(normal, art.config.scoring)
            row["calibration_mean"] = float(stats["mean"])  # type: ignore[arg-type]
            row["calibration_std"] = float(stats["std"])  # type: ignore[arg-type]
            row["threshold"] = float(stats["threshold"])  # type: ignore[arg-type]
            row["threshold_shift_in_std"] = (row["threshold"] - art.threshold) / std


def model_table(result: dict[str, Any]) -> str:
    r0 = result["rows"][0]
    lines = [
        f"Network forward on real windows of {Path(result['data']).name}, artifact "
        f"{result['model_version']}: {result['torch_threads']} torch thread(s), batches of "
        f"{result['batch']}, {result['timed_windows']} windows, median of "
        f"{result['rounds']} alternating rounds; CPU ms per frame of a camera's stream "
        f"(a window brings {result['stride']} new frames). Scores against {REFERENCE}; "
        f"threshold shift in calibration std, against the artifact's "
        f"{result['calibrated_threshold']:.4f}.",
        "",
    ]
    acc = "micro_auc" in r0
    cal = "threshold" in r0
    head = "| variant | precision | CPU ms/frame | vs eager fp32 | build CPU s |"
    if acc:
        head += " max abs diff | max rel diff | max diff / std | stream micro AUC | FAR |"
    if cal:
        head += " threshold | shift / std |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    base = r0["cpu_ms_per_frame"]
    for r in result["rows"]:
        line = (
            f"| {r['variant']} | {r['precision']} | {r['cpu_ms_per_frame']:.2f} "
            f"| {r['cpu_ms_per_frame'] / base:.2f}x | {r['build_cpu_s']:.1f} |"
        )
        if acc:
            line += (
                f" {r['max_abs_diff']:.2e} | {r['max_rel_diff']:.2e} "
                f"| {r['max_diff_in_std']:.3f} | {r['micro_auc']:.4f} "
                f"| {r['false_alarm_rate']:.4f} |"
            )
        if cal:
            line += f" {r['threshold']:.4f} | {r['threshold_shift_in_std']:+.3f} |"
        lines.append(line)
    if result.get("pass_sizes"):
        lines += ["", "CPU ms per frame by windows per forward pass (alternated in one run):", ""]
        lines += ["| variant | windows per pass | CPU ms/frame |", "|---|---|---|"]
        lines += [
            f"| {r['variant']} | {r['windows_per_pass']} | {r['cpu_ms_per_frame']:.2f} |"
            for r in result["pass_sizes"]
        ]
    return "\n".join(lines) + "\n"
