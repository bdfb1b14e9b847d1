import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamproc.cli.app import app

runner = CliRunner()
TINY_YAML = """
data:
  preprocess: {height: 32, width: 48}
  window: {length: 4, stride: 2}
model: {base_channels: 8, latent_channels: 4, attention_heads: 2}
training: {epochs: 1, batch_size: 8, threads: 2}
scoring: {patch: 8}
evaluation: {heatmaps: 1}
"""


@pytest.fixture(scope="module")
def cli_artifact(synthetic_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    (d / "tiny.yaml").write_text(TINY_YAML)
    out = d / "art"
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(synthetic_dataset),
            "--model",
            "attention-ae",
            "--out",
            str(out),
            "--config",
            str(d / "tiny.yaml"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "epoch 1/1" in res.output and "version" in res.output
    return out


@pytest.mark.parametrize("protocol", ["streaming", "offline"])
def test_eval_writes_report_and_plots(
    cli_artifact: Path, synthetic_dataset: Path, tmp_path: Path, protocol: str
) -> None:
    report = tmp_path / "r.json"
    res = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(synthetic_dataset),
            "--artifact",
            str(cli_artifact),
            "--protocol",
            protocol,
            "--report",
            str(report),
            "--plots",
            str(tmp_path / "plots"),
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(report.read_text())
    for key in (
        "micro_auc",
        "macro_auc",
        "eer",
        "pr_auc",
        "precision",
        "recall",
        "f1",
        "frames",
        "windows_per_s",
        "model_precision",  # serving.precision's default, resolved on this CPU
        "model_engine",
    ):
        assert key in rep
    assert rep["model_precision"] in ("fp32", "bf16") and rep["model_engine"] == "eager"
    assert rep["frames"] == 80 and 0 <= rep["micro_auc"] <= 1
    names = {p.name for p in (tmp_path / "plots").iterdir()}
    assert {"roc.png", "timelines.png", "heatmaps.png"} <= names
    assert any(n.startswith("clip_00") for n in names)


def test_bad_inputs_give_clear_errors(
    cli_artifact: Path, synthetic_dataset: Path, tmp_path: Path
) -> None:
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(synthetic_dataset),
            "--model",
            "resnet",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert res.exit_code == 2 and "valid models: attention-ae" in res.output
    res = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(tmp_path),
            "--artifact",
            str(cli_artifact),
            "--report",
            str(tmp_path / "r.json"),
        ],
    )
    assert res.exit_code == 2 and "no 'test/' folder" in res.output
    res = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(synthetic_dataset),
            "--artifact",
            str(tmp_path),
            "--protocol",
            "live",
            "--report",
            str(tmp_path / "r.json"),
        ],
    )
    assert res.exit_code == 2 and "--protocol must be one of streaming, offline" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(synthetic_dataset),
            "--artifact",
            str(cli_artifact),
            "--precision",
            "int8",
            "--report",
            str(tmp_path / "r.json"),
        ],
    )
    assert res.exit_code == 2 and "--precision" in res.output and "'int8'" in res.output
    assert "'auto', 'fp32', 'bf16' or 'fp16'" in res.output


def test_config_validate_points_at_key(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("smoothing:\n  kind: gaussian\n")
    res = runner.invoke(app, ["config", "validate", str(f)])
    assert res.exit_code == 2 and "smoothing.kind" in res.output and "gaussian" in res.output
    f.write_text("smoothing:\n  kind: median\n")
    assert runner.invoke(app, ["config", "validate", str(f)]).exit_code == 0
    shown = runner.invoke(app, ["config", "show", str(f)])
    assert "kind: median" in shown.output


def test_models_lists_registry() -> None:
    out = runner.invoke(app, ["models"]).output
    assert "attention-ae" in out and "conv3d-ae" in out and "convlstm-ae" in out


def test_bench_pipeline_camera_resize_is_checked(tmp_path: Path) -> None:
    from streamproc.cli.bench import parse_size

    assert parse_size("144x96") == (144, 96) and parse_size("288X192") == (288, 192)
    for bad in ("144", "144x", "ax96", "4x4"):
        r = CliRunner().invoke(
            app,
            [
                "bench",
                "pipeline",
                "--data",
                str(tmp_path),
                "--artifact",
                str(tmp_path),
                "--report",
                str(tmp_path / "r.json"),
                "--camera-resize",
                bad,
            ],
        )
        assert r.exit_code == 2 and "--camera-resize" in r.output, r.output


SECRET_YAML = """
cameras:
  cameras:
    - {id: gate, source: "rtsp://admin:${CAM_PW}@cam-gate:554/s?token=${CAM_TOKEN}"}
state:
  type: redis
  url: "redis://:${REDIS_PW}@redis:6379/0"
  password: "${REDIS_PW}"
transport:
  type: kafka
  security_protocol: SASL_SSL
  sasl_mechanism: PLAIN
  sasl_username: app
  sasl_password: "${REDIS_PW}"
"""


def test_config_show_masks_every_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAM_PW", "c@m/pw")
    monkeypatch.setenv("CAM_TOKEN", "tok123")
    monkeypatch.setenv("REDIS_PW", "r3dis")
    f = tmp_path / "c.yaml"
    f.write_text(SECRET_YAML)
    shown = runner.invoke(app, ["config", "show", str(f)])
    assert shown.exit_code == 0, shown.output
    for secret in ("c@m/pw", "tok123", "r3dis"):
        assert secret not in shown.output
    assert "rtsp://admin:***@cam-gate:554/s?token=***" in shown.output


def test_validation_errors_do_not_echo_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAM_SRC", "rtsp://admin:hunter2@cam")
    monkeypatch.setenv("WORKERS", "s3cret-not-a-number")
    f = tmp_path / "c.yaml"
    f.write_text(
        "cameras:\n  cameras:\n    - {id: 'bad id!', source: '${CAM_SRC}'}\n"
        "worker:\n  workers: '${WORKERS}'\n"
        "state: {type: redis, url: 'redis://:pw9@h:notaport/0'}\n"
    )
    res = runner.invoke(app, ["config", "validate", str(f)])
    assert res.exit_code == 2 and "worker.workers" in res.output and "state" in res.output
    for secret in ("hunter2", "s3cret", "pw9"):
        assert secret not in res.output


@pytest.mark.parametrize(
    "url", ["redis://host:notaport", "http://x", "redis://:pw@/0", "redis://h:1/zero"]
)
def test_a_bad_redis_url_fails_validation(tmp_path: Path, url: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(f"state: {{type: redis, url: '{url}'}}\n")
    res = runner.invoke(app, ["config", "validate", str(f)])
    assert res.exit_code == 2 and "state.redis.url" in res.output, res.output
    assert "Traceback" not in res.output
