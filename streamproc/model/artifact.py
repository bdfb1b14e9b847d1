"""The model artifact: one directory, loadable without unpickling anything.

    ARTIFACT/
      weights.safetensors       network weights
      config.json               the full streamproc config it was trained with
      calibration.json          normal score statistics, threshold, error range
      calibration.safetensors   per-pixel normal error map, normal latent codes
      metadata.json             model name, version id, training data, metrics

The version id is a content hash of the four other files, so two artifacts with the
same id score identically.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from streamproc import __version__
from streamproc.config import StreamprocConfig, config_from_dict
from streamproc.config.root import MODEL_SECTIONS
from streamproc.errors import ArtifactError, ConfigError
from streamproc.model.base import AnomalyModel
from streamproc.model.device import Precision
from streamproc.model.engine import Engine
from streamproc.model.registry import build_model
from streamproc.model.scoring import Calibration, WindowScorer

FILES = ("weights.safetensors", "config.json", "calibration.json", "calibration.safetensors")


@dataclass
class Artifact:
    config: StreamprocConfig
    model: AnomalyModel
    calibration: Calibration
    stats: dict[str, Any]  # normal score statistics incl. "threshold"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unsaved"))

    @property
    def threshold(self) -> float:
        return float(self.stats["threshold"])

    @property
    def window_shape(self) -> tuple[int, int, int, int]:
        """(C, T, H, W) of one model input window."""
        p = self.config.data.preprocess
        return (p.channels, self.config.data.window.length, p.height, p.width)

    def scorer(
        self,
        device: torch.device | str = "cpu",
        precision: Precision = "fp32",
        engine: Engine = "eager",
    ) -> WindowScorer:
        """A scorer of this model, warmed up (a compiled engine compiles here)."""
        scorer = WindowScorer(
            self.model,
            self.config.scoring,
            self.calibration,
            device,
            self.config.data.preprocess.appearance_channels,
            precision,
            engine,
        )
        scorer.warm_up(self.window_shape)
        return scorer


def content_hash(directory: Path) -> str:
    h = hashlib.sha256()
    for name in FILES:
        h.update(name.encode())
        h.update((directory / name).read_bytes())
    return h.hexdigest()[:16]


def save_artifact(
    art: Artifact, directory: str | Path, extra_meta: dict[str, Any] | None = None
) -> str:
    """Write the artifact; returns its version id."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in art.model.state_dict().items()}
    save_file(state, str(d / "weights.safetensors"))
    (d / "config.json").write_text(art.config.model_dump_json(indent=2, include=MODEL_SECTIONS))
    cal = art.calibration
    (d / "calibration.json").write_text(
        json.dumps(
            {
                "stats": art.stats,
                "error_min": cal.error_min,
                "error_max": cal.error_max,
                "cues": {c: {"mean": m, "std": sd} for c, (m, sd) in cal.cue_stats.items()},
            },
            indent=2,
        )
    )
    tensors = {}
    if cal.pixel_error is not None:
        tensors["pixel_error"] = cal.pixel_error.detach().cpu().contiguous()
    if cal.latent_bank is not None:
        tensors["latent_bank"] = cal.latent_bank.detach().cpu().contiguous()
    save_file(tensors, str(d / "calibration.safetensors"))
    version = content_hash(d)
    meta = {
        **art.metadata,
        **(extra_meta or {}),
        "model": art.config.model.name,
        "version": version,
        "format": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "streamproc": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    (d / "metadata.json").write_text(json.dumps(meta, indent=2))
    art.metadata = meta
    return version


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(
            f"{path}: missing; is {path.parent} a complete model artifact?"
        ) from None
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{path}: corrupt JSON ({err}); re-export the artifact") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object")
    return data


# Settings added after artifacts were first written, with the behaviour those artifacts
# were trained and calibrated with. A stored config without the key gets this value, not
# today's default (which would silently change how an old model scores).
ADDED_LATER: dict[tuple[str, str], Any] = {
    ("scoring", "residual"): "squared",
    ("model", "predict_motion"): False,
    ("scoring", "fusion"): "none",
    ("model", "predict_frames"): 0,
}
# Settings nested one level deeper, added later: (section, subsection, key) -> old value.
ADDED_LATER_NESTED: dict[tuple[str, str, str], Any] = {
    ("data", "preprocess", "flow_method"): "farneback",
}


def _with_old_behaviour(raw: dict[str, Any]) -> dict[str, Any]:
    for (section, key), value in ADDED_LATER.items():
        part = raw.get(section)
        if isinstance(part, dict) and key not in part:
            part[key] = value
    for (section, sub, key), value in ADDED_LATER_NESTED.items():
        part = raw.get(section, {}).get(sub) if isinstance(raw.get(section), dict) else None
        if isinstance(part, dict) and key not in part:
            part[key] = value
    return raw


def _cue_stats(raw: Any, d: Path) -> dict[str, tuple[float, float]]:
    try:
        return {str(c): (float(v["mean"]), float(v["std"])) for c, v in raw.items()}
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ArtifactError(
            f"{d}/calibration.json: 'cues' must map each cue to {{mean, std}}; re-export the "
            "artifact"
        ) from None


def load_artifact(directory: str | Path, verify: bool = True) -> Artifact:
    """Load an artifact directory. Only JSON and safetensors are read: no pickle."""
    d = Path(directory)
    if not d.is_dir():
        raise ArtifactError(f"{d}: not a directory; pass the --out directory of `streamproc train`")
    missing = [n for n in (*FILES, "metadata.json") if not (d / n).exists()]
    if missing:
        raise ArtifactError(f"{d}: incomplete artifact, missing {', '.join(missing)}")
    meta = _read_json(d / "metadata.json")
    if verify and meta.get("version") != content_hash(d):
        raise ArtifactError(
            f"{d}: files do not match version {meta.get('version')} recorded in metadata.json "
            "(modified or partially copied); re-export or copy the directory again"
        )
    try:
        raw = _with_old_behaviour(_read_json(d / "config.json"))
        cfg = config_from_dict(raw, str(d / "config.json"))
    except ConfigError as err:
        raise ArtifactError(
            f"artifact config is not valid for this streamproc version:\n{err}"
        ) from None
    model = build_model(cfg.model, cfg.data)
    try:
        model.load_state_dict(load_file(str(d / "weights.safetensors")))
    except RuntimeError as err:
        raise ArtifactError(
            f"{d}/weights.safetensors does not fit model {cfg.model.name}: {err}"
        ) from None
    model.eval()
    cal_json = _read_json(d / "calibration.json")
    tensors = load_file(str(d / "calibration.safetensors"))
    cal = Calibration(
        pixel_error=tensors.get("pixel_error"),
        latent_bank=tensors.get("latent_bank"),
        error_min=float(cal_json.get("error_min", 0.0)),
        error_max=float(cal_json.get("error_max", 1.0)),
        cue_stats=_cue_stats(cal_json.get("cues", {}), d),
    )
    return Artifact(cfg, model, cal, dict(cal_json["stats"]), meta)
