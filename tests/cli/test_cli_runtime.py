import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import yaml
from typer.testing import CliRunner

from streamproc.alerts.schema import AlertEvent
from streamproc.cli.app import app
from streamproc.model.artifact import load_artifact
from streamproc.windowing import window_starts
from tests.conftest import synthetic_clip, write_clip

runner = CliRunner()
CLIP_FRAMES = 30


def state_config(tmp_path: Path) -> Path:
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"state": {"type": "embedded", "path": str(tmp_path / "s.db")}}))
    return f


def test_camera_set_show_reset(tmp_path: Path) -> None:
    cfg = str(state_config(tmp_path))
    res = runner.invoke(
        app,
        [
            "camera",
            "set",
            "gate-1",
            "--threshold",
            "2.5",
            "--exclude",
            "0,0 0.3,0 0.3,1",
            "--config",
            cfg,
        ],
    )
    assert res.exit_code == 0, res.output
    shown = json.loads(runner.invoke(app, ["camera", "show", "gate-1", "--config", cfg]).output)
    assert shown["settings"]["threshold"] == 2.5 and len(shown["settings"]["exclude"]) == 1
    assert "gate-1" in runner.invoke(app, ["camera", "list", "--config", cfg]).output
    bad = runner.invoke(app, ["camera", "set", "gate-1", "--roi", "0,0 2,0 1,1", "--config", cfg])
    assert bad.exit_code == 2 and "coordinates in 0..1" in bad.output
    assert runner.invoke(app, ["camera", "reset", "gate-1", "--config", cfg]).exit_code == 0
    gone = runner.invoke(app, ["camera", "show", "gate-1", "--config", cfg])
    assert gone.exit_code == 2 and "unknown camera 'gate-1'" in gone.output


def test_camera_show_of_an_unknown_camera_exits_2_and_lists_the_known(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "state": {"type": "embedded", "path": str(tmp_path / "s.db")},
                "cameras": {"cameras": [{"id": "door", "source": "synthetic:0"}]},
            }
        )
    )
    cfg = str(f)
    assert runner.invoke(app, ["camera", "set", "gate-1", "--threshold", "2", "--config", cfg])
    res = runner.invoke(app, ["camera", "show", "no-such-cam", "--config", cfg])
    assert res.exit_code == 2, res.output
    assert "unknown camera 'no-such-cam'" in res.output
    assert "Known cameras: door, gate-1" in " ".join(res.output.split())
    # A configured camera with nothing stored yet is known: defaults, no state.
    shown = runner.invoke(app, ["camera", "show", "door", "--config", cfg])
    assert shown.exit_code == 0 and json.loads(shown.output)["state"] is None


def test_alert_schema_export(tmp_path: Path) -> None:
    out = tmp_path / "alert.schema.json"
    assert runner.invoke(app, ["alerts", "schema", "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text()) == AlertEvent.model_json_schema()


def test_serve_config_is_the_apps(tmp_path: Path) -> None:
    res = runner.invoke(app, ["serve", "config", "--artifact", "/models/m"])
    doc = yaml.safe_load(res.output)
    a = doc["applications"][0]
    assert a["import_path"] == "streamproc.serving.app:build_app"
    assert a["deployments"][0]["user_config"] == {"artifact": "/models/m"}


def test_run_embedded_with_a_model_scores_every_window_of_a_file(
    tmp_path: Path, tiny_artifact: Path
) -> None:
    write_clip(tmp_path / "clip", synthetic_clip(CLIP_FRAMES, np.random.default_rng(3)))
    f = tmp_path / "run.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "state": {"type": "embedded", "path": str(tmp_path / "s.db")},
                "metrics": {"port": None},
                "cameras": {
                    "defaults": {"resize": [64, 48]},
                    "cameras": [
                        {"id": "clip", "source": str(tmp_path / "clip"), "realtime": False}
                    ],
                },
            }
        )
    )
    # No --duration: a file ends, and the run stops once every window is scored.
    res = runner.invoke(
        app, ["run", "--config", str(f), "--artifact", str(tiny_artifact), "--local"]
    )
    assert res.exit_code == 0, res.output
    assert "starting: 1 camera(s) (clip)" in res.output, res.output
    assert "every window is scored" in res.output, res.output
    w = load_artifact(tiny_artifact).config.data.window
    want = len(window_starts(CLIP_FRAMES, w.length, w.stride))
    scored = re.findall(r"stopped after \d+ s: (\d+) windows scored", res.output)
    assert [int(n) for n in scored] == [want], res.output


def test_camera_set_refuses_a_threshold_the_worker_cannot_use(tmp_path: Path) -> None:
    """At 03ea956 `--threshold -1` was stored (exit 0) and every later window of the
    camera failed in the decider, retried forever."""
    cfg = str(state_config(tmp_path))
    for value in ("-1", "nan", "inf"):
        res = runner.invoke(app, ["camera", "set", "gate-1", "--threshold", value, "--config", cfg])
        assert res.exit_code == 2, res.output
        assert "threshold" in res.output and "--clear-threshold" in res.output
        assert "nothing was changed" in res.output and "Traceback" not in res.output
    # Nothing was stored: the camera is still unknown.
    shown = runner.invoke(app, ["camera", "show", "gate-1", "--config", cfg])
    assert shown.exit_code == 2 and "unknown camera" in shown.output
    bad_id = runner.invoke(app, ["camera", "set", "gate:1", "--threshold", "1", "--config", cfg])
    assert bad_id.exit_code == 2 and "camera id 'gate:1' is not valid" in bad_id.output


def test_camera_set_replaces_settings_stored_before_validation(tmp_path: Path) -> None:
    cfg = str(state_config(tmp_path))
    assert runner.invoke(app, ["camera", "set", "gate-1", "--config", cfg]).exit_code == 0
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.execute("UPDATE settings SET json = ? WHERE camera = 'gate-1'", ('{"threshold": -1}',))
    res = runner.invoke(app, ["camera", "set", "gate-1", "--threshold", "2", "--config", cfg])
    assert res.exit_code == 0 and "replacing them" in res.output, res.output
    shown = json.loads(runner.invoke(app, ["camera", "show", "gate-1", "--config", cfg]).output)
    assert shown["settings"]["threshold"] == 2
