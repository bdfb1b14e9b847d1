"""`streamproc camera ...`: operators read and set a camera's threshold and regions."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from streamproc.cli.common import console, friendly_errors
from streamproc.config import load_config
from streamproc.errors import ConfigError
from streamproc.threshold import make_store
from streamproc.threshold.base import CameraSettings, Point, StateStore

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
    if len(points) < 3 or not all(0 <= v <= 1 for pt in points for v in pt):
        raise ConfigError(f"polygon {text!r}: needs >= 3 points with coordinates in 0..1")
    return points


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
    """A camera's settings and state as JSON."""
    store = _store(config)
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
    store = _store(config)
    s = store.get_settings(camera).model_copy(deep=True)
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
    store.set_settings(camera, CameraSettings.model_validate(s.model_dump()))
    console.print(f"{camera}: {s.model_dump_json()}")
    store.close()


@app.command("reset")
@friendly_errors
def reset(camera: str, config: Path | None = CONFIG) -> None:
    """Forget a camera's state and settings (e.g. after a corrupt value)."""
    store = _store(config)
    store.delete(camera)
    console.print(f"{camera}: state and settings removed")
    store.close()
