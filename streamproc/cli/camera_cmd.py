"""`streamproc camera ...`: operators read and set a camera's threshold and regions."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import ValidationError

from streamproc.cli.common import console, friendly_errors
from streamproc.config import load_config
from streamproc.errors import ConfigError
from streamproc.ids import CAMERA_ID_RULE, is_camera_id
from streamproc.threshold import make_store
from streamproc.threshold.base import CameraSettings, Point, StateStore, polygon_problem
from streamproc.threshold.errors import CorruptStateError

app = typer.Typer(
    help="Per-camera thresholds, regions of interest and state.", no_args_is_help=True
)
CONFIG = typer.Option(None, "--config", help="Config naming the state store (default: embedded).")


def _store(config: Path | None) -> StateStore:
    return make_store(load_config(config).state)


def parse_polygon(text: str) -> list[Point]:
    """'x,y x,y x,y' in relative coordinates (0..1) -> a polygon."""
    try:
        points = [(float(x), float(y)) for x, y in (p.split(",") for p in text.split())]
    except ValueError:
        raise ConfigError(f"polygon {text!r}: expected 'x,y x,y x,y' with numbers") from None
    problem = polygon_problem(points)
    if problem:
        raise ConfigError(f"polygon {text!r}: {problem}; give at least 3 'x,y' points in 0..1")
    return points


# What to type instead, per field of CameraSettings that failed validation.
_FIXES = {
    "threshold": "pass --threshold with a finite number >= 0 (scores are non-negative), "
    "or --clear-threshold to go back to the adaptive threshold",
    "threshold_k": "pass --threshold-k with a finite number >= 0",
    "roi": "give each --roi at least 3 'x,y' points in 0..1, or --clear-regions",
    "exclude": "give each --exclude at least 3 'x,y' points in 0..1, or --clear-regions",
}


def validated(camera: str, settings: CameraSettings) -> CameraSettings:
    """The settings, validated as the worker will read them; a ConfigError naming the
    field and the fix otherwise (nothing is stored)."""
    try:
        return CameraSettings.model_validate(settings.model_dump())
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        value = getattr(settings, key, None) if key else None
        fix = _FIXES.get(key, "check the values passed")
        raise ConfigError(
            f"camera {camera}: {key} {value!r} is not valid ({first['msg']}); nothing was "
            f"changed. To fix it, {fix}."
        ) from None


@app.command("list")
@friendly_errors
def list_cameras(config: Path | None = CONFIG) -> None:
    """Cameras that have settings or state."""
    store = _store(config)
    for cam in store.cameras():
        st = store.get_state(cam)
        s = store.get_settings(cam)
        info = f"last seq {st.last_seq}, normal frames {st.stats.count}" if st else "no state"
        fixed = f", threshold {s.threshold}" if s.threshold is not None else ""
        typer.echo(f"{cam}: {info}{fixed}{', alert open' if st and st.alert else ''}")
    store.close()


@app.command("show")
@friendly_errors
def show(camera: str, config: Path | None = CONFIG) -> None:
    """A camera's settings and state as JSON; exit 2 for a camera nobody knows."""
    cfg = load_config(config)
    store = make_store(cfg.state)
    configured = [c.id for c in cfg.cameras.cameras]
    stored = store.cameras()
    if camera not in stored and camera not in configured:
        store.close()
        known = sorted(set(stored) | set(configured))
        raise ConfigError(
            f"unknown camera {camera!r}: it is not in the config and the state store has no "
            f"settings or state for it. Known cameras: {', '.join(known) or 'none yet'}. "
            "A camera is known once ingest sends its first window or `camera set` stores "
            "settings for it."
        )
    st = store.get_state(camera)
    out = {
        "settings": store.get_settings(camera).model_dump(mode="json"),
        "state": st.model_dump(mode="json", exclude={"outbox"}) if st else None,
    }
    typer.echo(json.dumps(out, indent=2))
    store.close()


@app.command("set")
@friendly_errors
def set_camera(
    camera: str,
    threshold: float | None = typer.Option(None, "--threshold", help="Fixed threshold."),
    threshold_k: float | None = typer.Option(None, "--threshold-k", min=0, help="k of mean+k std."),
    roi: list[str] = typer.Option([], "--roi", help="Region of interest 'x,y x,y x,y' (repeat)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Region to ignore (repeat)."),
    clear_threshold: bool = typer.Option(False, "--clear-threshold", help="Back to adaptive."),
    clear_regions: bool = typer.Option(False, "--clear-regions", help="Remove all regions."),
    config: Path | None = CONFIG,
) -> None:
    """Change a camera's settings; workers pick them up with the next window."""
    if not is_camera_id(camera):
        raise ConfigError(
            f"camera id {camera!r} is not valid: expected {CAMERA_ID_RULE}, as in the "
            "config's cameras (it names Kafka keys, Redis keys and metric labels)."
        )
    store = _store(config)
    try:
        s = store.get_settings(camera).model_copy(deep=True)
    except CorruptStateError:  # stored before validation existed: set replaces them
        console.print(f"[yellow]warning:[/] {camera}: stored settings are invalid; replacing them")
        s = CameraSettings()
    if clear_threshold:
        s.threshold = s.threshold_k = None
    if clear_regions:
        s.roi, s.exclude = [], []
    if threshold is not None:
        s.threshold = threshold
    if threshold_k is not None:
        s.threshold_k = threshold_k
    s.roi += [parse_polygon(p) for p in roi]
    s.exclude += [parse_polygon(p) for p in exclude]
    try:
        store.set_settings(camera, validated(camera, s))
    finally:
        store.close()
    console.print(f"{camera}: {s.model_dump_json()}")


@app.command("reset")
@friendly_errors
def reset(camera: str, config: Path | None = CONFIG) -> None:
    """Forget a camera's state, settings and ingest position (e.g. after a corrupt value)."""
    store = _store(config)
    store.delete(camera)
    console.print(f"{camera}: state, settings and ingest position removed")
    store.close()
