from pathlib import Path

import pytest

from streamproc.config import StreamprocConfig, apply_overrides, load_config
from streamproc.errors import ConfigError


def test_defaults_are_valid_and_complete() -> None:
    cfg = StreamprocConfig()
    assert cfg.model.name == "attention-ae"
    assert cfg.data.preprocess.channels == 2  # gray + optical-flow speed
    assert cfg.data.window.stride <= cfg.data.window.length


def test_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("training:\n  epochs: 3\nscoring:\n  patch: 16\n")
    cfg = load_config(f)
    assert cfg.training.epochs == 3 and cfg.scoring.patch == 16
    assert cfg.training.batch_size == StreamprocConfig().training.batch_size


def test_unknown_key_is_named(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("training:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"training\.epoch: unknown key"):
        load_config(f)


def test_bad_value_names_key_and_value(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("data:\n  window:\n    length: 4\n    stride: 9\n")
    with pytest.raises(ConfigError, match="stride"):
        load_config(f)
    f.write_text("training:\n  learning_rate: -1\n")
    with pytest.raises(ConfigError, match=r"training\.learning_rate.*got -1"):
        load_config(f)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    f = tmp_path / "bad.yaml"
    f.write_text("training: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f)
    f.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(f)


def test_apply_overrides_validates() -> None:
    cfg = apply_overrides(StreamprocConfig(), {"training.epochs": 7})
    assert cfg.training.epochs == 7
    with pytest.raises(ConfigError):
        apply_overrides(cfg, {"training.epochs": 0})


def test_env_interpolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "state: {type: redis, url: 'redis://${REDIS_HOST}:6379/0', password: '${REDIS_PW}'}\n"
        "topics: {frames: 'a$${b}'}\n"
    )
    monkeypatch.setenv("REDIS_HOST", "redis.internal")
    monkeypatch.setenv("REDIS_PW", "s3cret")
    with pytest.raises(ConfigError, match="topics"):  # '${b}' is no valid topic name
        load_config(f)
    f.write_text(f.read_text().replace("a$${b}", "frames-x"))
    cfg = load_config(f)
    assert cfg.state.type == "redis" and cfg.state.url == "redis://redis.internal:6379/0"
    assert cfg.state.password is not None and cfg.state.password.get_secret_value() == "s3cret"
    monkeypatch.delenv("REDIS_PW")
    with pytest.raises(ConfigError, match=r"state\.password refers to \$\{REDIS_PW\}"):
        load_config(f)


def test_motion_prediction_needs_a_motion_channel(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("data:\n  preprocess:\n    motion: none\nscoring:\n  channels: all\n")
    with pytest.raises(ConfigError, match=r"predict_motion.*motion is 'none'"):
        load_config(f)
    f.write_text(
        "data:\n  preprocess:\n    motion: none\nscoring:\n  channels: all\n"
        "model:\n  predict_motion: false\n"
    )
    assert load_config(f).data.preprocess.channels == 1


def test_predicted_frames_must_leave_frames_to_predict_from() -> None:
    from streamproc.config import config_from_dict
    from streamproc.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model.predict_frames \(8\) must be smaller"):
        config_from_dict({"model": {"predict_frames": 8}}, "test")
    assert config_from_dict({"model": {"predict_frames": 7}}, "test").model.predict_frames == 7


def test_serving_precision_and_engine_name_the_valid_values(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("serving:\n  precision: auto\n  engine: compile\n")
    cfg = load_config(f)
    assert cfg.serving.precision == "auto" and cfg.serving.engine == "compile"
    f.write_text("serving:\n  precision: int8\n")
    with pytest.raises(ConfigError, match=r"serving\.precision.*'auto', 'fp32', 'bf16'.*int8"):
        load_config(f)
    f.write_text("serving:\n  engine: onnx\n")
    with pytest.raises(ConfigError, match=r"serving\.engine.*'eager' or 'compile'.*onnx"):
        load_config(f)
